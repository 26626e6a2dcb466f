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

/**
 * A failure's deadline for a delivery, not its expected wait (well under a second): deliveries run on a thread at
 * niceness 10 (docs/decisions/side-threads.md), which beside busy cores gets a few percent of a core's turns. In
 * memory, beside four busy loops and two other test files, an order's first delivery had not come 7 s after its
 * endpoint was registered; in the durable mode an admin's redelivery took over 10 s.
 */
export const DELIVERED_WITHIN_MS = 20_000;

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

/** A receiver served on a thread of its own: its deliveries, each stamped on the thread as it arrived. */
export interface ThreadReceiver {
  readonly url: string;
  /** Kept by a receiver that keeps them (`startReceiverOnThread`); `at` on this thread's `performance.now()` clock. */
  readonly deliveries: readonly Delivery[];
  close(): Promise<void>;
}

/**
 * A receiver's thread: a server answering `status` to everything; it posts its port back, then each delivery if it keeps
 * them, stamped on the clock every thread shares (timeOrigin + now).
 */
const THREAD_RECEIVER = `
const { createServer } = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const { status, keep } = workerData;
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => { if (keep) chunks.push(chunk); });
  req.on('end', () => {
    const at = performance.timeOrigin + performance.now();
    if (keep) parentPort.postMessage({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at });
    res.statusCode = status;
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
parentPort.on('message', () => server.close(() => process.exit(0)));
`;

/**
 * Served on a thread of its own, as from another machine: a delivery is stamped when it reaches the endpoint, not when
 * the event loop of the services under test (the tests run them in their own process) gets round to reading it — a
 * flood's orders on that loop held healthy deliveries there for 0.4–1.2 s beside two busy loops.
 */
async function startThreadReceiver(status: number, keep: boolean): Promise<ThreadReceiver> {
  const worker = new Worker(THREAD_RECEIVER, { eval: true, workerData: { status, keep } });
  const [port] = (await once(worker, 'message')) as [number];
  const deliveries: Delivery[] = [];
  worker.on('message', (delivery: Delivery) =>
    deliveries.push({ ...delivery, at: delivery.at - performance.timeOrigin }),
  );
  return {
    url: `http://127.0.0.1:${port}/hook`,
    deliveries,
    close: async () => {
      const exited = once(worker, 'exit');
      worker.postMessage('close');
      await exited;
    },
  };
}

/** A receiver that answers 204 to every delivery and keeps them, on a thread of its own. */
export const startReceiverOnThread = (): Promise<ThreadReceiver> => startThreadReceiver(204, true);

/**
 * Endpoints that fail every delivery, as an attacker's would, on a thread of its own: a flood's thousands of failed
 * deliveries a second must not be answered on the event loop of the services under test, which they would slow down
 * for every client alike.
 */
export const startFailingReceiver = (): Promise<ThreadReceiver> => startThreadReceiver(500, false);

/** Endpoints that take every delivery (204) and keep none, on a thread of its own: a flood's control, as it should be. */
export const startWorkingReceiver = (): Promise<ThreadReceiver> => startThreadReceiver(204, false);
