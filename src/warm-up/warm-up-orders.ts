/**
 * The warm-up's traffic: orders posted over loopback keep-alive connections
 * for a while, as clients post them — some that succeed in a few
 * milliseconds, some whose payment is declined while their siblings still
 * sleep (the cancellation path), some with the default delays and no
 * `delay_ms` at all. What V8 compiles from them, on the main thread and on
 * every step thread, is what the first real orders would otherwise wait for.
 */
import { connect, type Socket } from 'node:net';

export interface WarmUpTraffic {
  /** Where POST /order is answered. */
  readonly url: URL;
  readonly durationMs: number;
  /** Connections sending at once, each one order at a time. */
  readonly connections: number;
}

export interface WarmUpFigures {
  readonly orders: number;
  /** Answers by HTTP status: every one of them 200 or 400 (a declined payment) when all went as meant. */
  readonly statuses: Readonly<Record<number, number>>;
  readonly ms: number;
}

/** The bodies, taken in turn. */
const BODIES: readonly ((id: string) => string)[] = [
  (id) => `{"order_id":"${id}","amount":1200,"delay_ms":{"payment":1,"vendor":1,"courier":1}}`,
  (id) => `{"order_id":"${id}","amount":1200,"delay_ms":{"payment":2,"vendor":1,"courier":3}}`,
  (id) => `{"order_id":"${id}","amount":1200,"fail_step":"payment","delay_ms":{"payment":2,"vendor":40,"courier":40}}`,
  (id) => `{"order_id":"${id}","amount":1200,"delay_ms":{"payment":1,"vendor":2,"courier":1}}`,
];
/** One order in this many has the default delays (200 ms at the slowest step), so that few connections wait on one. */
const DEFAULT_DELAYS_EVERY = 256;
const withDefaultDelays = (id: string): string => `{"order_id":"${id}","amount":1200}`;

const bodyOf = (n: number): string =>
  (n % DEFAULT_DELAYS_EVERY === DEFAULT_DELAYS_EVERY - 1 ? withDefaultDelays : BODIES[n % BODIES.length]!)(
    warmUpOrderId(n),
  );

/** The order ids the warm-up uses: `warm-up-0`, `warm-up-1`, … (its records are scratch ones). */
export const warmUpOrderId = (n: number): string => `warm-up-${n}`;

export async function sendWarmUpOrders({ url, durationMs, connections }: WarmUpTraffic): Promise<WarmUpFigures> {
  const statuses: Record<number, number> = {};
  const started = performance.now();
  const until = started + durationMs;
  let next = 0;
  const sender = async (): Promise<void> => {
    const connection = await KeepAliveConnection.open(url);
    try {
      while (performance.now() < until) {
        const n = next++;
        const status = await connection.post('/order', bodyOf(n));
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === 0) return;
      }
    } finally {
      connection.close();
    }
  };
  await Promise.all(Array.from({ length: connections }, sender));
  return { orders: next, statuses, ms: performance.now() - started };
}

/**
 * One keep-alive connection, one request at a time, read as far as its status and length: Node's HTTP client took
 * more of the main thread than the server's answer (the warm-up sent about a third fewer orders through it), and the
 * warm-up's worth is in the orders the server answers.
 */
class KeepAliveConnection {
  private received: Buffer = Buffer.alloc(0);
  private waiting: ((status: number) => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly host: string,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.received = this.received.length ? Buffer.concat([this.received, chunk]) : chunk;
      this.answerIfWhole();
    });
    socket.on('error', () => {});
    socket.on('close', () => this.answer(0));
  }

  static open(url: URL): Promise<KeepAliveConnection> {
    return new Promise((resolve) => {
      const socket = connect(Number(url.port), url.hostname);
      const connection = new KeepAliveConnection(socket, url.host);
      socket.once('connect', () => resolve(connection));
      socket.once('close', () => resolve(connection));
    });
  }

  /** The answer's status, or 0 if the connection closed before a whole answer came. */
  post(path: string, body: string): Promise<number> {
    if (this.socket.destroyed) return Promise.resolve(0);
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.write(
        `POST ${path} HTTP/1.1\r\nHost: ${this.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private answerIfWhole(): void {
    const headEnd = this.received.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = this.received.toString('latin1', 0, headEnd);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    // Every answer of the app has a length; one without is not read further, and its connection not used again.
    if (!length) {
      this.socket.destroy();
      return;
    }
    const end = headEnd + 4 + Number(length[1]);
    if (this.received.length < end) return;
    this.received = this.received.subarray(end);
    this.answer(Number(head.slice(9, 12)));
  }

  private answer(status: number): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(status);
  }
}
