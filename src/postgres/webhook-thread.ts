/**
 * The durable mode's deliveries as the main thread holds them: a thread of
 * their own (webhook-worker.ts) runs graphile-worker and the lanes, so that
 * neither the queue's claims, reads and marks nor the sends, their
 * signatures and JSON take the thread that serves orders (measured in
 * docs/measurements/2026-11-23-delivery-queue.md). Nothing of at least once
 * changes: the jobs are in Postgres, added by the statements that record
 * the facts, and a thread that dies leaves them there — it is started
 * again, and its locked jobs are let go like a dead instance's.
 *
 * What stays here is what is asked of the main thread: the admin's
 * redelivery and the backlog for /metrics (one statement each, on the
 * instance's pool), the counts (read from shared memory), the attempts for
 * their spans, and this instance's identity, told to the thread while the
 * lease holds, with the lease's end: the thread counts on it no longer than
 * the main thread would, however late the next telling comes. close() stops the thread's queue and waits for it: the drain.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Deliveries, DeliveryFigures, DeliveryOptions } from '../events/deliveries.js';
import { DELIVERY_COUNTS_BYTES, DeliveryCounts } from '../events/delivery-counts.js';
import type { StoredEvent } from '../events/order-event.js';
import type { Database } from './database.js';
import { deliveryFigures, queueRedelivery } from './pg-webhook-lanes.js';
import type { FromWebhookWorker, LeaseHeld, ToWebhookWorker, WebhookWorkerData } from './webhook-worker.js';

/** How often the thread is told this instance's identity and lease (it holds it until the lease's end it was told). */
const OWNER_EVERY_MS = 100;
/** The thread's own connections for its reads and marks (graphile-worker has its own besides). */
const THREAD_POOL_SIZE = 4;
/** A thread that died is started again after this. */
const RESTART_MS = 1000;

export interface WebhookThreadOptions {
  readonly databaseUrl: string;
  readonly leaseMs: number;
  readonly statementTimeoutMs: number;
  /** The compiled webhook-worker.js. */
  readonly workerFile: URL;
}

export class WebhookThread implements Deliveries {
  private worker: Worker | undefined;
  private readonly countsBuffer = new SharedArrayBuffer(DELIVERY_COUNTS_BYTES);
  private readonly counts = new DeliveryCounts(this.countsBuffer);
  private telling: NodeJS.Timeout | undefined;
  private closing = false;
  private closed: Promise<void> = Promise.resolve();

  constructor(
    /** The instance's pool: the admin's redelivery and the backlog are one statement each, made here. */
    private readonly db: Database,
    private readonly options: DeliveryOptions,
    /** This instance's identity and the end of its lease (InstanceLease.holding). */
    private readonly owner: () => LeaseHeld | undefined,
    private readonly thread: WebhookThreadOptions,
  ) {}

  async start(): Promise<void> {
    await this.spawn();
    this.telling = setInterval(() => this.tell({ owner: this.owner() }), OWNER_EVERY_MS);
    this.telling.unref();
  }

  redeliver(event: StoredEvent): Promise<number> {
    return queueRedelivery(this.db, event);
  }

  figures(): Promise<DeliveryFigures> {
    return deliveryFigures(this.db, this.counts);
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.telling);
    this.tell({ close: true });
    await this.closed;
    await this.worker?.terminate();
  }

  private tell(message: ToWebhookWorker): void {
    this.worker?.postMessage(message);
  }

  /** Start the thread; resolves once its queue runs (rejects if it could not start). */
  private spawn(): Promise<void> {
    const { log, recorder, retentionDays, ...rest } = this.options;
    const workerData: WebhookWorkerData = {
      databaseUrl: this.thread.databaseUrl,
      leaseMs: this.thread.leaseMs,
      statementTimeoutMs: this.thread.statementTimeoutMs,
      poolSize: THREAD_POOL_SIZE,
      logLevel: log.level,
      counts: this.countsBuffer,
      recordAttempts: recorder !== undefined,
      delivery: { ...rest, retentionDays },
    };
    const worker = new Worker(this.thread.workerFile, { workerData, name: 'webhook-delivery' });
    this.worker = worker;
    // The drain ends it; it must not keep the process alive by itself.
    worker.unref();
    worker.postMessage({ owner: this.owner() } satisfies ToWebhookWorker);
    let ended!: () => void;
    this.closed = new Promise((resolve) => (ended = resolve));
    return new Promise((resolve, reject) => {
      worker.on('message', (message: FromWebhookWorker) => {
        if ('log' in message) writeLine(log, message.log);
        else if ('attempt' in message) {
          const shift = message.timeOrigin - performance.timeOrigin;
          const { attempt } = message;
          recorder?.attempted({ ...attempt, startedAt: attempt.startedAt + shift, endedAt: attempt.endedAt + shift });
        } else if ('started' in message) resolve();
        else if ('failed' in message)
          reject(new Error(`the webhook delivery thread could not start: ${message.failed}`));
        else if ('closed' in message) ended();
      });
      const died = (why: string): void => {
        ended();
        reject(new Error(`the webhook delivery thread ended: ${why}`));
        if (this.closing || this.worker !== worker) return;
        log.error({ reason: why }, 'the webhook delivery thread ended; starting it again (its jobs stay queued)');
        setTimeout(() => {
          if (!this.closing) this.spawn().catch(() => {});
        }, RESTART_MS).unref();
      };
      worker.on('error', (error: Error) => died(error.message));
      worker.on('exit', (code) => died(`exit code ${code}`));
    });
  }
}

/** A line the thread's logger wrote, written again by the main thread's (with its bindings and destination). */
function writeLine(log: Logger, line: string): void {
  const { level, msg, ...fields } = JSON.parse(line) as { level: number; msg?: string } & Record<string, unknown>;
  const label = (log.levels.labels[level] ?? 'info') as 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  log[label](fields, msg);
}
