/**
 * The delivery thread's code (webhook-thread.ts starts it): graphile-worker's
 * runner, the lanes it runs (pg-webhook-lanes.ts), their reads and marks on
 * a small pool of their own, the HTTP sends and their signatures — all off
 * the thread that serves orders. What crosses back: the counts, in shared
 * memory; the log lines, the attempts (for their spans) and `started` /
 * `closed`, as messages. The main thread tells it who this instance is
 * while its lease holds, several times a second; an identity not heard of
 * for a while is no identity (a main thread that cannot say is one that may
 * have lost its lease), and the lanes send nothing without one.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import type { DeliveryOptions } from '../events/deliveries.js';
import { DeliveryCounts } from '../events/delivery-counts.js';
import type { DeliveryAttempt } from '../events/delivery-traces.js';
import type { StatusByKind } from '../events/order-event.js';
import { Database } from './database.js';
import { PgEndpointBook } from './pg-events.js';
import { PgWebhookLanes } from './pg-webhook-lanes.js';

export interface WebhookWorkerData {
  readonly databaseUrl: string;
  readonly leaseMs: number;
  readonly statementTimeoutMs: number;
  readonly poolSize: number;
  readonly logLevel: string;
  readonly counts: SharedArrayBuffer;
  /** Whether attempts are told to the main thread (tracing on). */
  readonly recordAttempts: boolean;
  /** How long an identity heard of stays good without being heard again. */
  readonly ownerStaleMs: number;
  readonly delivery: Omit<DeliveryOptions, 'log' | 'recorder' | 'statusByKind'> & {
    readonly statusByKind: StatusByKind;
  };
}

export type ToWebhookWorker = { readonly owner: string | undefined } | { readonly close: true };

export type FromWebhookWorker =
  | { readonly started: true }
  | { readonly failed: string }
  | { readonly log: string }
  | { readonly attempt: DeliveryAttempt; readonly timeOrigin: number }
  | { readonly closed: true };

const data = workerData as WebhookWorkerData;
const port = parentPort!;
const post = (message: FromWebhookWorker): void => port.postMessage(message);

// Lines go to the main thread's logger, which writes them with its own bindings; filtered here by its level.
const log = pino(
  { level: data.logLevel, base: undefined, timestamp: false },
  { write: (line: string) => post({ log: line }) },
);

let owner: { id: string | undefined; heardAt: number } = { id: undefined, heardAt: 0 };
const currentOwner = (): string | undefined =>
  performance.now() - owner.heardAt <= data.ownerStaleMs ? owner.id : undefined;

const db = new Database({
  url: data.databaseUrl,
  poolSize: data.poolSize,
  statementTimeoutMs: data.statementTimeoutMs,
  log,
});
const lanes = new PgWebhookLanes(
  db,
  data.databaseUrl,
  new PgEndpointBook(db),
  {
    ...data.delivery,
    log,
    ...(data.recordAttempts
      ? { recorder: { attempted: (attempt) => post({ attempt, timeOrigin: performance.timeOrigin }) } }
      : {}),
  },
  currentOwner,
  data.leaseMs,
  new DeliveryCounts(data.counts),
);

port.on('message', (message: ToWebhookWorker) => {
  if ('owner' in message) owner = { id: message.owner, heardAt: performance.now() };
  else
    void (async () => {
      await lanes.close();
      await db.close();
      post({ closed: true });
    })();
});

lanes.start().then(
  () => post({ started: true }),
  (error: unknown) => post({ failed: (error as Error).message }),
);
