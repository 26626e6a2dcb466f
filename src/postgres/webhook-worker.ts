/**
 * The delivery thread's code (webhook-thread.ts starts it): graphile-worker's
 * runner, the lanes it runs (pg-webhook-lanes.ts), their reads and marks on
 * a small pool of their own, the HTTP sends and their signatures — all off
 * the thread that serves orders. What crosses back: the counts, in shared
 * memory; the log lines, the attempts (for their spans) and `started` /
 * `closed`, as messages. The main thread tells it who this instance is
 * and until when its lease holds, several times a second; past that end,
 * with no newer telling, it is no one, and the lanes send nothing.
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
  readonly delivery: Omit<DeliveryOptions, 'log' | 'recorder' | 'statusByKind'> & {
    readonly statusByKind: StatusByKind;
  };
}

/** This instance's identity, and until when (ms since the epoch, performance clock) its lease holds. */
export interface LeaseHeld {
  readonly id: string;
  readonly until: number;
}

export type ToWebhookWorker = { readonly owner: LeaseHeld | undefined } | { readonly close: true };

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

let owner: LeaseHeld | undefined;
const currentOwner = (): string | undefined =>
  owner && performance.timeOrigin + performance.now() < owner.until ? owner.id : undefined;

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
  if ('owner' in message) owner = message.owner;
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
