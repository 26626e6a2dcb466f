/**
 * Webhook delivery in the durable mode, on graphile-worker (docs/decisions/graphile-worker-over-pg-boss.md
 * says why it, and not pg-boss): its jobs, claimed with SKIP LOCKED by
 * any instance, woken by LISTEN/NOTIFY, are added in SQL by the very
 * transaction that writes the event (schema.ts, `events_emit`) — so an event
 * that committed has its job, and one rolled back has none.
 *
 * One job per order, for all its client's endpoints (migration 7; before,
 * one per endpoint and order, twice the claims and completions), in a named
 * queue of its own (serial across every instance), keyed so an order has at
 * most one waiting: it delivers each endpoint's undelivered events of the
 * order in their order, each before the next, the endpoints side by side, so
 * an order's events arrive in the order they happened whatever the retries;
 * a lane waiting a second or more for a retry waits parked, in no queue
 * (PARK_FROM_MS says why).
 * A failure schedules the order's job again (our backoff with jitter,
 * retry-schedule.ts, rather than graphile-worker's fixed exponential one)
 * and ends the job; the delivery rows keep the failures and when the first
 * attempt was made, so the retry window outlives any instance. A job whose
 * instance dies mid-delivery is run again by another once graphile-worker
 * frees its lock: at least once, as webhooks promise.
 *
 * Runs on the delivery thread (webhook-thread.ts), not the order path's.
 * Jobs under way are shared between the clients (src/fairness/held-shares.ts): a job
 * whose client holds its share already goes back to the queue for a while
 * (not a failure: nothing was sent), so that a client whose endpoint is slow
 * or whose events flood never holds every job and another client's orders
 * are claimed beside it.
 */
import { tellAttempt } from '../events/delivery-traces.js';
import { EventEmitter } from 'node:events';
import {
  Logger as WorkerLogger,
  run,
  runMigrations,
  type JobHelpers,
  type Runner,
  type WorkerEvents,
} from 'graphile-worker';
import type { Logger } from 'pino';
import type { Deliveries, DeliveryFigures, DeliveryOptions } from '../events/deliveries.js';
import { DeliveryCounts } from '../events/delivery-counts.js';
import { eventJson, type StoredEvent } from '../events/order-event.js';
import { retryDelayMs, triedAgain } from '../events/retry-schedule.js';
import type { EndpointBook } from '../events/webhook-endpoints.js';
import { WebhookSender } from '../events/webhook-sender.js';
import { HeldShares } from '../fairness/held-shares.js';
import { TurnLine } from '../fairness/turn-line.js';
import type { Database, Statement } from './database.js';
import { OwedDeliveries } from './owed-deliveries.js';
import { eventOfRow, type EventRow } from './pg-events.js';
import {
  BACKLOG,
  DELIVERED,
  DETACH,
  DONE,
  FAILED,
  FORGET,
  LANE,
  LANE_AGAIN,
  MAX_ATTEMPTS,
  POOL_GONE,
  POOL_STARTED,
  REDELIVER,
  TASK,
  UNLOCK_LOST,
  UNLOCK_ORPHANED,
  SWEEP_QUEUES,
} from './webhook-lane-statements.js';

/** A lane that meets a lost Postgres tries again itself this many times, 250 ms doubling to 2 s, before it fails. */
const LANE_TRIES = 20;
/** Lanes delivered at once by this instance, shared between the clients (src/fairness/held-shares.ts). */
const CONCURRENCY = 16;
/** A job beyond its client's share comes back after between half and all of this. */
const DEFER_MS = 500;
/** The flag of a client's jobs (migration 10). */
const clientFlag = (client: string): string => `client:${client}`;
/** The client of an order's stored key, as the SQL's `split_part(order_id, ':', 1)`. */
const clientOfOrder = (order: string): string => order.split(':', 1)[0]!;
const deferMs = (): number => Math.round(DEFER_MS * (0.5 + Math.random() / 2));
/** graphile-worker's own connections. */
const WORKER_POOL_SIZE = 4;
/**
 * A lane that waits this long or longer waits parked: in no named queue. Every claim, by any instance for any
 * client, locks every queue not locked, those of lanes waiting hours for a retry too; a flood's failing endpoints
 * kept thousands waiting (their client's share of EVENTS_MAX), and every other client's claim slowed with them.
 */
const PARK_FROM_MS = 1000;
/**
 * The priority of a lane's job added again by a run of it — a retry, a lane beyond its client's share deferred, a
 * parked lane handed back to its order's queue — after every first delivery's (an event's job, added by its order's
 * transaction, is at graphile-worker's 0): a claim takes the job first by priority, then by when it was due, and
 * passes over the jobs it may not take. A client whose endpoints all fail kept thousands of its lanes' retries due
 * (its share of EVENTS_MAX, its jobs beyond its share of the sends waiting their turn): another client's new event was
 * found behind all of them, by each claim of every instance, and delivered 130-155 ms after its order (8-12 ms beside
 * the same orders to working endpoints). A key's new event replaces its job at 0 (job_key_mode replace).
 */
const AGAIN_PRIORITY = 1;
/** A queue stopped by a lost Postgres is started again after this, doubling up to RESTART_MAX_MS. */
const RESTART_FIRST_MS = 250;
const RESTART_MAX_MS = 5000;
/** Jobs locked by lost instances' pools are let go this often; a pool younger than the grace is never judged. */
const UNLOCK_EVERY_MS = 1000;
/** A queue lock with none of its pool's jobs under it is let go once this old (UNLOCK_ORPHANED). */
const ORPHAN_GRACE_MS = 1000;
/** Done orders' queues deleted at once, at most, each UNLOCK_EVERY_MS (SWEEP_QUEUES). */
const SWEEP_AT_MOST = 10_000;
/** Old events are forgotten this often (EVENT_RETENTION_DAYS). */
const HOUSEKEEPING_MS = 60_000;

interface LanePayload {
  /** The order's stored key. */
  readonly order: string;
  /** Only this endpoint's deliveries: a job added before migration 7 (one per endpoint and order). */
  readonly endpoint?: string;
  /** Waited out a retry in no queue: its run only puts the lane back in its order's queue, due now. */
  readonly parked?: true;
}

type OwedRow = EventRow & {
  endpoint_id: string;
  /** The delivery row's version (its xmin) when read: a redelivery asked for meanwhile makes a new one. */
  version: string;
  url: string;
  secret: string;
  endpoint_client: string;
  failures: number;
};

/** How one endpoint's share of an order's job ended. */
interface LaneEnd {
  /** The seqs it delivered, with the versions read, marked together when the job ends. */
  readonly delivered: Array<{ readonly seq: number; readonly version: string }>;
  /** When it failed and is to be tried again, in how long. */
  readonly retryInMs?: number;
}

/** Send one event again to every enabled endpoint of its client (the admin's): how many deliveries were queued. */
export async function queueRedelivery(db: Database, event: StoredEvent): Promise<number> {
  const [row] = await db.query<{ queued: number }>(REDELIVER, [event.seq]);
  return row?.queued ?? 0;
}

/** What this instance counted (`droppedByClient`: by its delivery thread), and the backlog every instance shares. */
export async function deliveryFigures(
  db: Database,
  counts: DeliveryCounts,
  droppedByClient: Readonly<Record<string, number>>,
): Promise<DeliveryFigures> {
  const [row] = await db.query<{ pending: number; oldest: Date | null }>(BACKLOG).catch(() => []);
  return {
    attempts: counts.attempts(),
    disabled: counts.disabledByReason(),
    oldestUndeliveredAt: row?.oldest ?? undefined,
    pending: row?.pending ?? 0,
    droppedByClient,
  };
}

/** The queue's tables and functions, before any event can name them (PostgresStore.open, after our own). */
export async function migrateQueue(databaseUrl: string): Promise<void> {
  await runMigrations({ connectionString: databaseUrl, logger: quietLogger(undefined) });
}

function quietLogger(log: Logger | undefined): WorkerLogger {
  return new WorkerLogger(() => (level, message) => {
    if (level === 'error') log?.warn({ queue: 'graphile-worker' }, message);
    else log?.debug({ queue: 'graphile-worker' }, message);
  });
}

export class PgWebhookLanes implements Deliveries {
  private runner: Runner | undefined;
  private readonly sender: WebhookSender;
  private housekeeping: NodeJS.Timeout | undefined;
  private unlocking: NodeJS.Timeout | undefined;
  /** The pools of this instance's runner. */
  private pools: string[] = [];
  /** Pools of a runner that stopped, whose rows must go so that their locked jobs are let go. */
  private stoppedPools: string[] = [];
  private readonly closing = new AbortController();
  private readonly shares: HeldShares;
  /** The lanes' statements, in their clients' turns for this thread's connections. */
  private readonly statements: TurnLine;
  /** Each client's share of the deliveries owed (EVENTS_MAX), kept by trimming what is beyond it. */
  private readonly owed: OwedDeliveries;

  constructor(
    private readonly db: Database,
    private readonly databaseUrl: string,
    private readonly endpoints: EndpointBook,
    private readonly options: DeliveryOptions,
    /** This instance's identity while its lease holds. */
    private readonly owner: () => string | undefined,
    /** LEASE_MS: a pool younger than this is not judged lost (its row may not be written yet). */
    private readonly leaseMs: number,
    /** Where attempts and disabled endpoints are counted: shared with the main thread when this runs on its own. */
    private readonly counts: DeliveryCounts = new DeliveryCounts(),
  ) {
    this.sender = new WebhookSender(options.allowPrivate);
    this.shares = new HeldShares(CONCURRENCY, options.clientWeights);
    // One connection is left to the housekeeping, the trim of what is owed and the unlocking of lost pools.
    this.statements = new TurnLine(Math.max(1, db.poolSize - 1), options.clientWeights);
    this.owed = new OwedDeliveries(db, options.maxPending, options.clientWeights, options.log, counts);
  }

  async start(): Promise<void> {
    await this.startRunner();
    this.owed.start();
    this.housekeeping = setInterval(() => void this.forgetOld(), HOUSEKEEPING_MS);
    this.housekeeping.unref();
    this.unlocking = setInterval(() => void this.unlockLost(), UNLOCK_EVERY_MS);
    this.unlocking.unref();
  }

  /**
   * graphile-worker stops its pool for good when Postgres goes away while it
   * releases a job (its jobs may then be in an inconsistent state, it says):
   * its promise rejects, and the pool is started again, once Postgres
   * answers, until the service closes. The job it could not release is
   * freed by its lock's timeout and run again — at least once.
   */
  private async startRunner(): Promise<void> {
    const events: WorkerEvents = new EventEmitter();
    const pools: string[] = [];
    events.on('pool:create', ({ workerPool }) => pools.push(workerPool.id));
    const runner = await run({
      events,
      connectionString: this.databaseUrl,
      maxPoolSize: WORKER_POOL_SIZE,
      concurrency: CONCURRENCY,
      noHandleSignals: true,
      // A client holding its share of the sends: its jobs are left for later, unclaimed (migration 10 flags them).
      forbiddenFlags: () => this.shares.full().map(clientFlag),
      pollInterval: 1000,
      logger: quietLogger(this.options.log),
      taskList: { [TASK]: (payload, helpers) => this.deliverLane(payload as LanePayload, helpers) },
    });
    this.runner = runner;
    this.pools = pools;
    await this.recordPools();
    runner.promise.then(
      () => {},
      (error: unknown) => {
        if (this.closing.signal.aborted) return;
        this.stoppedPools.push(...pools);
        this.pools = [];
        this.options.log.warn({ err: error }, 'the webhook queue stopped (Postgres lost); starting it again');
        void this.restartRunner();
      },
    );
  }

  private async restartRunner(): Promise<void> {
    for (let waitMs = RESTART_FIRST_MS; !this.closing.signal.aborted; waitMs = Math.min(2 * waitMs, RESTART_MAX_MS)) {
      await new Promise((resolve) => setTimeout(resolve, waitMs).unref());
      if (this.closing.signal.aborted) return;
      try {
        await this.startRunner();
        return;
      } catch {
        // Postgres not back yet: again, later.
      }
    }
  }

  redeliver(event: StoredEvent): Promise<number> {
    return queueRedelivery(this.db, event);
  }

  figures(): Promise<DeliveryFigures> {
    return deliveryFigures(this.db, this.counts, this.droppedByClient());
  }

  /** Deliveries this instance let go beyond their client's share, by client, since start. */
  droppedByClient(): Record<string, number> {
    return this.owed.droppedByClient();
  }

  async close(): Promise<void> {
    this.owed.stop();
    clearInterval(this.housekeeping);
    clearInterval(this.unlocking);
    this.closing.abort();
    await this.runner?.stop().catch(() => {});
    this.sender.close();
  }

  /**
   * A lost Postgres is waited out here, a while, rather than left to
   * graphile-worker's retries (e^attempts seconds): deliveries resume as
   * soon as it is back. Delivered events not yet marked are sent again: at
   * least once.
   */
  private async deliverLane(lane: LanePayload, helpers: JobHelpers): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.deliverLaneOnce(lane, helpers);
      } catch (error) {
        if (this.closing.signal.aborted || attempt >= LANE_TRIES) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 250 * 2 ** (attempt - 1))));
      }
    }
  }

  /**
   * One job per order: each endpoint's share — its events in their order,
   * each before the next — runs beside the others'. What was delivered is
   * marked in one statement at the end (an instance dying before it sends
   * those again: at least once); a failure brings the job back at the
   * soonest of the failing endpoints' backoffs.
   */
  private async deliverLaneOnce(lane: LanePayload, helpers: JobHelpers): Promise<void> {
    const { id, locked_by: pool, revision } = helpers.job;
    // The share is taken as the job is claimed, before its first statement: a job holds one of the runner's slots
    // from then on, through its reads and writes as through its sends. Taken only around the sends, a flood's jobs
    // waiting for the delivery thread's connections held every slot uncounted, none of them full: the queue never
    // passed over them, and another client's jobs, ready, waited behind hundreds of theirs (8 s beside two busy loops).
    const client = clientOfOrder(lane.order);
    const shared = this.shares.tryTake(client);
    try {
      // Its wait over, a parked lane sends nothing itself: it hands the key to a job in the order's queue, due now, so
      // that it never runs beside a run of its order that a new event started meanwhile.
      if (lane.parked) return await this.addLaneJob(lane.order, client, 0);
      const held = await this.statement(client, DETACH, [id, pool, revision]);
      // Freed (and maybe written into) before it could be detached: this run deletes it when it ends, so a job of no
      // key, which nothing can write into, takes over what it holds, in the order's queue, after this one.
      if (held.length === 0) return await this.addLaneJob(lane.order, client, 0, { keyed: false });
      // Beyond its client's share, the job goes back to the queue for a while, leaving its place to another client's:
      // a client whose endpoint is slow or whose events flood holds at most its share.
      if (!shared) return await this.addLaneJob(lane.order, client, deferMs());
      // Each endpoint with what is owed to it, in one read: none if it was removed or disabled meanwhile.
      const owed = await this.statement<OwedRow>(client, LANE, [lane.order, lane.endpoint ?? null]);
      if (owed.length > 0) await this.deliverOwed(lane, owed);
    } finally {
      if (shared) this.shares.give(client);
    }
  }

  private async deliverOwed(lane: LanePayload, owed: readonly OwedRow[]): Promise<void> {
    const byEndpoint = new Map<string, OwedRow[]>();
    for (const row of owed) byEndpoint.set(row.endpoint_id, [...(byEndpoint.get(row.endpoint_id) ?? []), row]);
    const ends = await Promise.allSettled([...byEndpoint.values()].map((rows) => this.deliverToEndpoint(rows)));
    const endpointIds: string[] = [];
    const seqs: number[] = [];
    const versions: string[] = [];
    let retryInMs: number | undefined;
    const endpointsInOrder = [...byEndpoint.keys()];
    for (const [i, end] of ends.entries()) {
      if (end.status === 'rejected') continue;
      for (const { seq, version } of end.value.delivered) {
        endpointIds.push(endpointsInOrder[i]!);
        seqs.push(seq);
        versions.push(version);
      }
      if (end.value.retryInMs !== undefined) retryInMs = Math.min(retryInMs ?? Infinity, end.value.retryInMs);
    }
    if (seqs.length > 0) await this.statement(clientOfOrder(lane.order), DELIVERED, [endpointIds, seqs, versions]);
    const failed = ends.find((end) => end.status === 'rejected');
    if (failed) throw failed.reason;
    if (retryInMs === undefined) return;
    await this.addLaneJob(lane.order, clientOfOrder(lane.order), retryInMs);
  }

  /**
   * The order's job again, in `inMs`: keyed, unless no key can be trusted (see DETACH). At AGAIN_PRIORITY: after every
   * first delivery.
   */
  private async addLaneJob(order: string, client: string, inMs: number, { keyed } = { keyed: true }): Promise<void> {
    const key = `webhook:${order}`;
    const parked = inMs >= PARK_FROM_MS;
    // The running job no longer has the key (DETACH): this one takes it, and waits in the order's queue or parked. A
    // new event meanwhile replaces it by key, in the queue and due at once.
    await this.statement(client, LANE_AGAIN, [
      TASK,
      JSON.stringify(parked ? { order, parked: true } : { order }),
      parked ? null : key,
      new Date(Date.now() + inMs),
      MAX_ATTEMPTS,
      keyed ? key : null,
      keyed ? 'replace' : null,
      AGAIN_PRIORITY,
      [clientFlag(client)],
    ]);
  }

  private async deliverToEndpoint(owed: readonly OwedRow[]): Promise<LaneEnd> {
    const first = owed[0]!;
    const endpoint = { id: first.endpoint_id, url: first.url, secret: first.secret, client: first.endpoint_client };
    const about = { endpoint_id: endpoint.id, client: endpoint.client };
    const delivered: LaneEnd['delivered'] = [];
    for (const row of owed) {
      // Without a lease this instance's locks may be freed and its lane run elsewhere: it sends nothing more.
      if (!this.owner()) throw new Error('this instance holds no lease: the lane is left to another');
      const event = eventOfRow(row);
      const startedAt = performance.now();
      const result = await this.sender.attempt({
        client: endpoint.client,
        url: endpoint.url,
        secret: endpoint.secret,
        eventId: event.id,
        body: JSON.stringify(eventJson(event, (kind) => this.options.statusByKind[kind])),
        timeoutMs: this.options.timeoutMs,
        signal: this.closing.signal,
      });
      if (this.closing.signal.aborted) throw new Error('shutting down: the lane is tried again');
      this.counts.attempted(result.outcome);
      tellAttempt(
        this.options.recorder,
        { event, endpointId: endpoint.id, attempt: row.failures + 1, startedAt },
        result,
      );
      if (result.outcome === 'delivered') {
        delivered.push({ seq: event.seq, version: row.version });
        continue;
      }
      if (result.outcome === 'gone') {
        this.options.log.warn({ ...about, event_id: event.id }, 'webhook endpoint answered 410 Gone: disabled');
        if (await this.endpoints.disable(endpoint.id, 'gone')) this.counts.disabled('gone');
        return { delivered };
      }
      const [failed] = await this.statement<{ failures: number; failing_ms: string; took_any: boolean }>(
        endpoint.client,
        FAILED,
        [endpoint.id, event.seq],
      );
      const failures = failed?.failures ?? 1;
      const waitMs = retryDelayMs(failures, this.options);
      if (triedAgain(failures, Number(failed?.failing_ms ?? 0), waitMs, this.options.retryWindowMs))
        return { delivered, retryInMs: waitMs };
      const fields = { ...about, event_id: event.id, attempts: failures, reason: result.reason };
      if (failed?.took_any) {
        this.options.log.error(
          fields,
          'webhook delivery failed for the whole retry window: this event is given up (GET /events has it)',
        );
        await this.statement(endpoint.client, DONE, [endpoint.id, event.seq, 'given_up']);
        continue;
      }
      this.options.log.error(fields, 'webhook endpoint failed every delivery for the whole retry window: disabled');
      if (await this.endpoints.disable(endpoint.id, 'failing')) this.counts.disabled('failing');
      return { delivered };
    }
    return { delivered };
  }

  /**
   * A lane's statement once its client's turn for this thread's connections comes. A flood's lanes send many at once
   * (one failure recorded per endpoint): in the pool's first-come line, another client's lane waited behind them all,
   * its job claimed and its share held meanwhile (2 s and more beside two busy loops).
   */
  private statement<Row extends object = Record<string, unknown>>(
    client: string,
    statement: Statement,
    values: readonly unknown[],
  ): Promise<Row[]> {
    return this.statements.run(client, () => this.db.query<Row>(statement, values));
  }

  /** Say which instance runs this instance's pool, and that a stopped one is nobody's. */
  private async recordPools(): Promise<void> {
    if (this.stoppedPools.length > 0) {
      const stopped = this.stoppedPools;
      await this.db.query(POOL_GONE, [stopped]).then(
        () => (this.stoppedPools = this.stoppedPools.filter((pool) => !stopped.includes(pool))),
        () => {},
      );
    }
    const owner = this.owner();
    if (!owner || this.pools.length === 0) return;
    await this.db.query(POOL_STARTED, [this.pools, owner]).catch(() => {});
  }

  private async unlockLost(): Promise<void> {
    await this.recordPools();
    if (!this.owner()) return;
    await this.db.query(UNLOCK_LOST, [2 * this.leaseMs]).catch(() => {});
    const orphaned = await this.db.query(UNLOCK_ORPHANED, [ORPHAN_GRACE_MS]).catch(() => []);
    if (orphaned.length > 0)
      this.options.log.warn({ queues: orphaned.length }, 'webhook queues locked by no job were let go');
    await this.db.query(SWEEP_QUEUES, [SWEEP_AT_MOST]).catch(() => {});
  }

  private async forgetOld(): Promise<void> {
    await this.db.query(FORGET, [this.options.retentionDays]).catch(() => {});
  }
}
