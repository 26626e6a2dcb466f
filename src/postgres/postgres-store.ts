/**
 * The durable mode, assembled: the Store (src/store/store.ts) that keeps
 * everything in Postgres when DATABASE_URL is set — the order records, the
 * payment provider's books — plus what only several instances need: this
 * instance's lease, recovery of lost instances' orders, the global courier
 * pool, and the LISTEN connection they share.
 *
 * Start-up order matters: the schema is brought up to date (migrations, under
 * an advisory lock), the courier pool sized, the instance registered; the
 * engine is then built with the pool's size and hands its courier semaphore
 * over (`attach`) before any step can run; `start` takes the free
 * courier slots and runs a first recovery pass — before the server listens.
 */
import type { OrderTraceOf } from '../events/delivery-traces.js';
import type { StatementObserver } from '../domain/trace.js';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { UnraisedAlarm } from '../orders/order-records.js';
import type { TakeoverRunner } from '../orders/takeover-rooms.js';
import type { OrderKey } from '../domain/order.js';
import type { EnginePieces, SharedStoreHealth, Store, StoreEvents } from '../store/store.js';
import { randomBytes } from 'node:crypto';
import { feedSecret, PgEndpointBook, PgEventLog } from './pg-events.js';
import { migrateQueue } from './pg-webhook-lanes.js';
import { WebhookThread } from './webhook-thread.js';
import { compiledModule } from '../paths.js';
import { CourierAllotment, coordinateCourierPool } from './courier-allotment.js';
import { Database, type ReadShare } from './database.js';
import { InstanceLease } from './instance-lease.js';
import { PgKeySource } from './api-keys.js';
import { Notifications } from './notifications.js';
import { PgLedger, RunsInDoubt } from './pg-ledger.js';
import { PgOrderRecords } from './pg-order-records.js';
import { Recovery } from './recovery.js';
import { DEFAULT_RECOVERIES_MAX } from '../domain/lifecycle.js';
import { PgStepAttempts } from './pg-step-attempts.js';
import { PgServiceBooks } from './pg-service-books.js';
import { FENCE_NOT_HELD } from './run-holder.js';
import type { EffectCaller } from '../ledger/service-books.js';
import { PgStepJournal } from './pg-step-journal.js';
import { loadMigrations } from './schema.js';

export interface DurableOptions {
  readonly databaseUrl: string;
  /** How long an instance's lease lasts without renewal (LEASE_MS). */
  readonly leaseMs: number;
  /**
   * How long before Postgres would let the lease go this instance gives it up itself (leaseMarginMs in src/config.ts).
   */
  readonly leaseMarginMs: number;
  /** Connections in this instance's pool (DB_POOL_SIZE). */
  readonly poolSize: number;
  /** The reads' own share (DB_READ_CONNECTIONS, DB_READ_WAIT_MS, DB_READS_WAITING_MAX); DEFAULT_READ_SHARE if unset. */
  readonly reads?: ReadShare;
  /** Each client's weight in its share of the reads (CLIENT_WEIGHTS); every client 1 without. */
  readonly readerWeights?: ReadonlyMap<string, number>;
  /** How long a final outcome is replayed (IDEMPOTENCY_TTL_MS). */
  readonly replayMs: number;
  /** COURIERS as configured: the pool's size unless running instances already set it. */
  readonly couriers: number;
  /** Told of each order's statements, for its trace; without: none is timed. */
  readonly statements?: StatementObserver;
  /** The trace of an order being finished, kept on its events (tracing); absent with tracing off. */
  readonly traceOf?: OrderTraceOf;
  /** Takeovers of a run after which it is no longer resumed (ORDER_RECOVERIES_MAX); absent: its default. */
  readonly recoveriesMax?: number;
}

export class PostgresStore implements Store {
  /** Recovery voids a run whose void did not get through (it is left in doubt). */
  readonly voidsRunsInDoubt = true;
  /** The outbox, written by the statements that record outcomes and refunds; endpoints; delivery on a queue. */
  readonly events: StoreEvents;
  readonly ledger: PgLedger;
  readonly records: PgOrderRecords;
  /** Each step's end, what a run taken over resumes from. */
  readonly journal: PgStepJournal;
  /** Each step's attempts as recorded, for an order's timeline. */
  readonly attempts: PgStepAttempts;
  readonly services: PgServiceBooks;
  private allotment: CourierAllotment | undefined;
  private readonly recovery: Recovery;
  private readonly keys: PgKeySource;
  private readonly lostListeners: Array<() => void> = [];

  private constructor(
    private readonly db: Database,
    private readonly notifications: Notifications,
    private readonly lease: InstanceLease,
    /** The courier pool's size, as the instances share it. */
    readonly couriers: number,
    options: DurableOptions,
    private readonly log: Logger,
    /** Feed cursors' (feedSecret). */
    cursorSecret: Buffer,
  ) {
    const inDoubt = new RunsInDoubt();
    const owner = (): string | undefined => lease.id();
    // Two batches of each kind on their way at once: four kinds take at most 8 connections, and under load each batch
    // serves many orders.
    const batching = { maxBatch: 100, maxInFlight: Math.max(1, Math.floor(options.poolSize / 4)) };
    // The records are made next, with this ledger: asked only once orders run.
    this.ledger = new PgLedger(db, inDoubt, (run) => this.records.holderOf(run), batching, options.statements);
    this.records = new PgOrderRecords(db, this.ledger, inDoubt, notifications, {
      replayMs: options.replayMs,
      owner,
      batching,
      ...(options.statements ? { statements: options.statements } : {}),
      ...(options.traceOf ? { traceOf: options.traceOf } : {}),
      settleWithinMs: 2 * options.leaseMs,
    });
    this.journal = new PgStepJournal(db, this.records, batching, options.statements);
    this.attempts = new PgStepAttempts(db);
    this.services = new PgServiceBooks(db, batching, options.statements);
    this.keys = new PgKeySource(db, notifications, log);
    const endpoints = new PgEndpointBook(db);
    this.events = {
      log: new PgEventLog(db),
      cursorSecret,
      endpoints,
      // On a thread of its own: delivery's CPU never takes the order path's (webhook-thread.ts).
      deliveries: (delivery) =>
        new WebhookThread(db, delivery, () => lease.holding(), {
          databaseUrl: options.databaseUrl,
          leaseMs: options.leaseMs,
          statementTimeoutMs: statementTimeoutMs(options.leaseMs),
          workerFile: compiledModule('src/postgres/webhook-worker'),
        }),
    };
    this.recovery = new Recovery(db, this.records, inDoubt, {
      leaseMs: options.leaseMs,
      orphanAfterMs: 2 * statementTimeoutMs(options.leaseMs),
      owner,
      recoveriesMax: options.recoveriesMax ?? DEFAULT_RECOVERIES_MAX,
      log,
    });
    // Runs handed over by an instance stopping gracefully are claimable now: resumed here at once, not at the next pass.
    notifications.on('runs_handed_over', () => this.recovery.lookNow());
  }

  /**
   * Connect, migrate, size the courier pool, register this instance. Rejects with DatabaseUnavailable if Postgres
   * cannot be reached.
   */
  static async open(options: DurableOptions, log: Logger): Promise<PostgresStore> {
    const db = new Database({
      url: options.databaseUrl,
      poolSize: options.poolSize,
      statementTimeoutMs: statementTimeoutMs(options.leaseMs),
      ...(options.reads && { reads: options.reads }),
      ...(options.readerWeights && { readerWeights: options.readerWeights }),
      log,
    });
    try {
      const applied = await db.migrate(await loadMigrations());
      if (applied.length > 0) log.info({ migrations: applied }, 'database schema brought up to date');
      await db.openConnections();
      // The webhook queue's schema: the outbox's triggers add its jobs.
      await migrateQueue(options.databaseUrl);
      const couriers = await coordinateCourierPool(db, options.couriers, log);
      const notifications = new Notifications(db, log);
      await notifications.start();
      let store: PostgresStore | undefined;
      const lease = new InstanceLease(db, { leaseMs: options.leaseMs, marginMs: options.leaseMarginMs }, log, (id) =>
        store?.lost(id),
      );
      const cursorSecret = await feedSecret(db, randomBytes(32));
      store = new PostgresStore(db, notifications, lease, couriers, options, log, cursorSecret);
      await lease.start();
      return store;
    } catch (error) {
      await db.close().catch(() => {});
      throw error;
    }
  }

  /** Called when this instance gives up its lease: whatever runs must stop (the orders are canceled `interrupted`). */
  onLost(listener: () => void): void {
    this.lostListeners.push(listener);
  }

  /** A cancel marked on any instance (NOTIFY order_cancel), or found by a recovery pass in case the notice was lost. */
  onCancelRequested(listener: (order: OrderKey) => void): void {
    this.records.onCancelRequested(listener);
    this.recovery.onCancelMissed(listener);
  }

  /** Who runs the runs of lost instances this instance's recovery passes take over, in the room it gives (recovery.ts). */
  resumeWith(runner: TakeoverRunner): void {
    this.recovery.resumeWith(runner);
  }

  stopTakingOver(): Promise<void> {
    return this.recovery.stopClaiming();
  }

  /** Raised by this instance's recovery passes, for runs of lost instances (recovery.ts). */
  onUnraisedAlarm(listener: (alarm: UnraisedAlarm) => void): void {
    this.recovery.onUnraisedAlarm(listener);
  }

  /**
   * The engine's courier semaphore, before any step runs: from now on it
   * lends only the slots this instance holds. Records forgotten here (past
   * their replay window, by the housekeeping of any instance) leave nothing
   * behind in the engine beyond its own time limit, so `forget` is not needed.
   */
  attach({ couriers }: EnginePieces): void {
    this.allotment = new CourierAllotment(this.db, couriers, this.lease, this.notifications, this.log);
  }

  apiKeys(): PgKeySource {
    return this.keys;
  }

  /**
   * Read the API keys issued here, take the free courier slots and recover what lost instances left; then keep doing
   * all three.
   */
  async start(): Promise<void> {
    await this.keys.start();
    await this.allotment?.start();
    await this.recovery.start();
  }

  /** Whether no order can start here now (for /readyz): Postgres does not answer, or this instance holds no lease. */
  unavailable(): boolean {
    return !this.db.isUp || this.lease.id() === undefined;
  }

  callerOf(run: number): EffectCaller {
    const holder = this.records.holderOf(run);
    return holder ? { fence: holder.fence, instance: holder.owner } : { fence: FENCE_NOT_HELD, instance: undefined };
  }

  sharedHealth(): SharedStoreHealth {
    const id = this.lease.id();
    return {
      instance_id: id ?? null,
      store: this.db.isUp ? 'up' : 'down',
      lease: id ? 'held' : 'lost',
      orders_running: this.records.localRuns().length,
      couriers_held: this.allotment?.held ?? 0,
      orders_recovered: this.recovery.recovered,
    };
  }

  /** This instance's figures, on the service's registry. */
  registerMetrics(registry: Registry): void {
    const registers = [registry];
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- in prom-client's collect(), `this` is the gauge
    const store = this;
    new Gauge({
      name: 'store_up',
      help: 'Whether Postgres answers (1) or not (0).',
      registers,
      collect() {
        this.set(store.db.isUp ? 1 : 0);
      },
    });
    new Gauge({
      name: 'store_lease_held',
      help: 'Whether this instance holds its lease (1) or gave it up (0).',
      registers,
      collect() {
        this.set(store.lease.id() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'couriers_held',
      help: 'Courier slots this instance holds, of the pool all instances share.',
      registers,
      collect() {
        this.set(store.allotment?.held ?? 0);
      },
    });
    // Counters of what this instance counts itself: Prometheus is given the growth since the last scrape.
    const counter = (name: string, help: string, read: () => number): void => {
      let seen = 0;
      new Counter({
        name,
        help,
        registers,
        collect() {
          const now = read();
          this.inc(now - seen);
          seen = now;
        },
      });
    };
    new Gauge({
      name: 'store_read_connections',
      help: "Connections of the reads' own pool (DB_READ_CONNECTIONS): the orders never give theirs to a read.",
      registers,
      collect() {
        this.set(store.db.readFigures.connections);
      },
    });
    new Gauge({
      name: 'store_reads',
      help: "Reads running on, or waiting for, a connection of the reads' pool.",
      registers,
      collect() {
        this.set(store.db.readFigures.reads);
      },
    });
    counter('store_round_trips_total', 'Statements this instance sent to Postgres.', () => store.db.roundTrips);
    counter(
      'store_reads_shed_total',
      "Reads turned away 503 overloaded: too many waiting, or no connection of the reads' pool came free in time.",
      () => store.db.readFigures.shed,
    );
    counter(
      'orders_recovered_total',
      'Orders of lost instances this instance took over: payment voided, recorded interrupted, canceled or dead_lettered.',
      () => store.recovery.recovered,
    );
    counter(
      'orders_resumed_total',
      'Orders of lost instances this instance took over and ran on after their recorded steps.',
      () => store.recovery.resumedRuns,
    );
    counter(
      'orders_dead_lettered_total',
      'Orders of lost instances this instance took over once more than ORDER_RECOVERIES_MAX allows: parked dead_lettered, payment voided, alarm raised.',
      () => store.recovery.deadLettered,
    );
  }

  /** Round trips to Postgres since start. */
  get roundTrips(): number {
    return this.db.roundTrips;
  }

  /** After the drain: give back the courier slots, let the lease go, disconnect. */
  async close(): Promise<void> {
    await this.allotment?.stop();
    await this.recovery.stop();
    this.keys.stop();
    await this.lease.stop();
    await this.notifications.close();
    await this.db.close();
  }

  private lost(identity: string): void {
    this.allotment?.revokeAll(identity);
    for (const listener of this.lostListeners) listener();
  }
}

/** A statement slower than this fails; short enough that a lease is renewed (or given up) in time. */
function statementTimeoutMs(leaseMs: number): number {
  return Math.max(1000, Math.min(5000, Math.floor(leaseMs / 2)));
}
