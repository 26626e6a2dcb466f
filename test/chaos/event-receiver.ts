/**
 * The chaos run's webhook receiver, on loopback in the harness's process:
 * every delivery kept (its event's id, order, type, and whether its
 * signature verifies with the `standardwebhooks` package), in the order it
 * arrived; a seeded share of attempts answered 500, so that retries are part
 * of every run.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { Seeded } from './seeded.js';

export interface ReceivedDelivery {
  readonly id: string;
  readonly orderId: string;
  readonly type: string;
  /** Whether the signature verified; false also for a body that is not an event. */
  readonly signed: boolean;
  /** Whether the receiver took it (2xx); an attempt it failed on purpose is not a delivery. */
  readonly accepted: boolean;
}

export class EventReceiver {
  readonly deliveries: ReceivedDelivery[] = [];
  private secret: string | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(rand: Seeded, failureRatio: number): Promise<EventReceiver> {
    let receiver: EventReceiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const accepted = rand.float() >= failureRatio;
        receiver?.keep(Buffer.concat(chunks).toString('utf8'), req.headers as Record<string, string>, accepted);
        res.statusCode = accepted ? 204 : 500;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    receiver = new EventReceiver(server, `http://127.0.0.1:${port}/events`);
    return receiver;
  }

  /** The endpoint's signing secret, once registered. */
  registered(secret: string): void {
    this.secret = secret;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private keep(body: string, headers: Record<string, string>, accepted: boolean): void {
    let event: { id?: string; type?: string; data?: { order_id?: string } } = {};
    let signed = false;
    try {
      event = new Webhook(this.secret ?? '').verify(body, headers) as typeof event;
      signed = true;
    } catch {
      try {
        event = JSON.parse(body) as typeof event;
      } catch {
        // Not an event at all: kept, unsigned, for the checker to say so.
      }
    }
    this.deliveries.push({
      id: String(event.id ?? headers['webhook-id'] ?? ''),
      orderId: String(event.data?.order_id ?? ''),
      type: String(event.type ?? ''),
      signed,
      accepted,
    });
  }
}
