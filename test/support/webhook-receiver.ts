/**
 * A webhook receiver on loopback for the tests: a real HTTP server that
 * keeps every delivery (headers and raw body) and answers as `answer` says
 * — 204 by default — so a test can make it fail, time out or say 410.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { Webhook } from 'standardwebhooks';

export interface Delivery {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
}

export interface ReceivedEvent {
  readonly id: string;
  readonly type: string;
  readonly timestamp: string;
  readonly client: string;
  readonly data: {
    readonly order_id: string;
    readonly outcome: { readonly kind: string; readonly http_status: number };
    readonly payment: { readonly charged: number; readonly refunded: number };
  };
}

export interface Receiver {
  readonly url: string;
  readonly deliveries: Delivery[];
  /** What the receiver answers to a delivery: a status, or one to come (a receiver still working on it). */
  answer: (delivery: Delivery, attemptOfThisId: number) => number | Promise<number>;
  /** The events received, verified with `secret` by the standardwebhooks package (throws if any does not verify). */
  verified(secret: string): ReceivedEvent[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  /** Deliveries so far by webhook-id: counted as they come, not by a walk over all of them for each (thousands a
   * second from a flood of failing endpoints, on the event loop the services under test share). */
  const attempts = new Map<string | undefined, number>();
  const receiver: Receiver = {
    url: '',
    deliveries,
    answer: () => 204,
    verified(secret) {
      const webhook = new Webhook(secret);
      return deliveries.map(
        ({ headers, body }) => webhook.verify(body, headers as Record<string, string>) as ReceivedEvent,
      );
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const delivery = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: performance.now() };
      deliveries.push(delivery);
      const id = req.headers['webhook-id'] as string | undefined;
      const attempt = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, attempt);
      void Promise.resolve(receiver.answer(delivery, attempt)).then((status) => {
        res.statusCode = status;
        res.end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, { url: `http://127.0.0.1:${port}/hook` });
}

/** An order as GET /orders/{order_id} tells it: what its events must agree with. */
export interface OrderStatusJson {
  outcome: { kind: string; http_status: number };
  payment: { charged: number; refunded: number };
}

/** The events an order's outcome makes, in order (src/events/order-event.ts), from what GET /orders/{id} says of it. */
export function expectedTypes(status: OrderStatusJson): string[] {
  const { kind } = status.outcome;
  if (kind === 'ok') return ['order.succeeded'];
  if (kind === 'compensation_failed') return ['order.failed', 'payment.refund_failed'];
  return status.payment.refunded > 0 ? ['order.failed', 'payment.refunded'] : ['order.failed'];
}

/** A receiver that takes every delivery and answers none until released: each send holds its place until its timeout. */
export interface HangingReceiver {
  readonly url: string;
  /** Deliveries taken and not answered. */
  readonly held: number;
  /** Answer every delivery held (204), and close. */
  close(): Promise<void>;
}

export async function startHangingReceiver(): Promise<HangingReceiver> {
  const held: Array<() => void> = [];
  const server = createServer((req, res) => {
    req.resume();
    held.push(() => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    get held() {
      return held.length;
    },
    async close() {
      for (const release of held.splice(0)) release();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A receiver that answers 500 to every delivery, on a thread of its own. */
export interface FailingReceiver {
  readonly url: string;
  close(): Promise<void>;
}

/** The failing receiver's thread: a server answering 500 to everything, its port posted back. */
const FAILING_RECEIVER = `
const { createServer } = require('node:http');
const { parentPort } = require('node:worker_threads');
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.statusCode = 500; res.end(); });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
parentPort.on('message', () => server.close(() => process.exit(0)));
`;

/**
 * Endpoints that fail every delivery, as an attacker's would — served on a thread of its own, as from another machine:
 * a flood's thousands of failed deliveries a second must not be answered on the event loop of the services under test
 * (the tests run them in their own process), which they would slow down for every client alike.
 */
export async function startFailingReceiver(): Promise<FailingReceiver> {
  const worker = new Worker(FAILING_RECEIVER, { eval: true });
  const [port] = (await once(worker, 'message')) as [number];
  return {
    url: `http://127.0.0.1:${port}/hook`,
    close: async () => {
      const exited = once(worker, 'exit');
      worker.postMessage('close');
      await exited;
    },
  };
}
