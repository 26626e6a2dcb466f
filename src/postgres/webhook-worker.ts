/**
 * The durable delivery thread's code (webhook-thread.ts starts it):
 * graphile-worker's runner, the lanes it runs (pg-webhook-lanes.ts), their
 * reads and marks on a small pool of their own, the HTTP sends and their
 * signatures — all off the thread that serves orders. The counts cross in
 * shared memory. The main thread tells it who this instance is and until
 * when its lease holds, several times a second; past that end, with no
 * newer telling, it is no one, and the lanes send nothing.
 */
import type { DeliveryOptions } from '../events/deliveries.js';
import { DeliveryCounts } from '../events/delivery-counts.js';
import { deliveryThreadPort } from '../events/delivery-thread-port.js';
import { Database } from './database.js';
import { PgEndpointBook } from './pg-events.js';
import { PgWebhookLanes } from './pg-webhook-lanes.js';

export interface WebhookWorkerData {
  readonly databaseUrl: string;
  readonly leaseMs: number;
  readonly statementTimeoutMs: number;
  readonly poolSize: number;
  readonly counts: SharedArrayBuffer;
  readonly delivery: Omit<DeliveryOptions, 'log' | 'recorder'>;
}

/** This instance's identity, and until when (ms since the epoch, performance clock) its lease holds. */
export interface LeaseHeld {
  readonly id: string;
  readonly until: number;
}

const thread = deliveryThreadPort<WebhookWorkerData>();
const { data, log } = thread;

let owner: LeaseHeld | undefined;
const currentOwner = (): string | undefined =>
  owner && performance.timeOrigin + performance.now() < owner.until ? owner.id : undefined;

// No reads of its own to share out: the smallest read pool.
const db = new Database({
  url: data.databaseUrl,
  poolSize: data.poolSize,
  statementTimeoutMs: data.statementTimeoutMs,
  reads: { connections: 1, waitMs: 500, waitingMax: 0 },
  log,
});
const lanes = new PgWebhookLanes(
  db,
  data.databaseUrl,
  new PgEndpointBook(db, 'pool'),
  { ...data.delivery, log, ...(thread.recorder ? { recorder: thread.recorder } : {}) },
  currentOwner,
  data.leaseMs,
  new DeliveryCounts(data.counts),
);

thread.serve(
  {
    onPost: (message) => (owner = (message as { owner: LeaseHeld | undefined }).owner),
    // The only request: what this instance let go beyond each client's share (a count per client: not shared memory).
    onRequest: async () => lanes.droppedByClient(),
    onClose: async () => {
      await lanes.close();
      await db.close();
    },
  },
  async () => {
    // Its lanes' statements only: it serves no client's reads and renews no lease.
    await db.openConnections({ reads: false, lease: false });
    await lanes.start();
  },
);
