/**
 * The durable mode's deliveries as the main thread holds them: a thread of
 * their own (webhook-worker.ts, through src/events/delivery-thread.ts) runs
 * graphile-worker and the lanes, so that neither the queue's claims, reads
 * and marks nor the sends, their signatures and JSON take the thread that
 * serves orders (docs/decisions/side-threads.md). Nothing of
 * at least once changes: the jobs are in Postgres, added by the statements
 * that record the facts, and a thread that dies leaves them there — it is
 * started again, and its locked jobs are let go like a dead instance's.
 *
 * What stays here is what is asked of the main thread: the admin's
 * redelivery and the backlog for /metrics (one statement each, on the
 * instance's pool), the counts (read from shared memory; those by client
 * asked of the thread), and this
 * instance's identity, told to the thread while the lease holds, with the
 * lease's end: the thread counts on it no longer than the main thread would,
 * however late the next telling comes. close() stops the thread's queue and
 * waits for it: the drain.
 */
import type { Deliveries, DeliveryFigures, DeliveryOptions } from '../events/deliveries.js';
import { DELIVERY_COUNTS_BYTES, DeliveryCounts } from '../events/delivery-counts.js';
import { deliveryThread, type DeliveryThread } from '../events/delivery-thread.js';
import type { StoredEvent } from '../events/order-event.js';
import type { Database } from './database.js';
import { deliveryFigures, queueRedelivery } from './pg-webhook-lanes.js';
import type { LeaseHeld, WebhookWorkerData } from './webhook-worker.js';

/** How often the thread is told this instance's identity and lease. */
const OWNER_EVERY_MS = 100;
/** The thread's own connections for its reads and marks (graphile-worker has its own besides). */
const THREAD_POOL_SIZE = 4;

export interface WebhookThreadOptions {
  readonly databaseUrl: string;
  readonly leaseMs: number;
  readonly statementTimeoutMs: number;
  /** The compiled webhook-worker.js. */
  readonly workerFile: URL;
}

export class WebhookThread implements Deliveries {
  private readonly countsBuffer = new SharedArrayBuffer(DELIVERY_COUNTS_BYTES);
  private readonly counts = new DeliveryCounts(this.countsBuffer);
  private readonly thread: DeliveryThread<WebhookWorkerData>;
  private telling: NodeJS.Timeout | undefined;
  private readonly tellOwner: () => void;
  /** What the thread last said it let go beyond each client's share: shown while it is being started again. */
  private droppedByClient: Record<string, number> = {};

  constructor(
    /** The instance's pool: the admin's redelivery and the backlog are one statement each, made here. */
    private readonly db: Database,
    options: DeliveryOptions,
    /** This instance's identity and the end of its lease (InstanceLease.holding). */
    owner: () => LeaseHeld | undefined,
    settings: WebhookThreadOptions,
  ) {
    const { log, recorder, ...delivery } = options;
    this.thread = deliveryThread({
      workerFile: settings.workerFile,
      name: 'webhook-delivery',
      data: {
        databaseUrl: settings.databaseUrl,
        leaseMs: settings.leaseMs,
        statementTimeoutMs: settings.statementTimeoutMs,
        poolSize: THREAD_POOL_SIZE,
        counts: this.countsBuffer,
        delivery,
      },
      log,
      recorder,
      onSpawn: (post) => post({ owner: owner() }),
    });
    this.tellOwner = () => this.thread.post({ owner: owner() });
  }

  async start(): Promise<void> {
    await this.thread.start();
    this.telling = setInterval(this.tellOwner, OWNER_EVERY_MS);
    this.telling.unref();
  }

  redeliver(event: StoredEvent): Promise<number> {
    return queueRedelivery(this.db, event);
  }

  async figures(): Promise<DeliveryFigures> {
    this.droppedByClient = await this.thread
      .request<Record<string, number>>({ dropped: true })
      .catch(() => this.droppedByClient);
    return deliveryFigures(this.db, this.counts, this.droppedByClient);
  }

  async close(): Promise<void> {
    clearInterval(this.telling);
    await this.thread.close();
  }
}
