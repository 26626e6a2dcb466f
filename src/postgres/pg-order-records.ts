/**
 * The order records in Postgres (`orders`), shared by every instance on one
 * database. Each transition is one statement (schema.ts says which
 * invariant each keeps):
 *
 * - begin  → order_begin: a new run owned by this instance, or the run
 *   under way (anywhere), or the recorded answer, or "reused" — one atomic
 *   decision across instances. It is also the order's "received" and
 *   "payment may be requested" checkpoint: recovery voids the run's payment
 *   whether or not a charge was sent, and the void refuses a charge that
 *   arrives later, so no separate "payment requested" write is needed. For
 *   an order with a deadline of its own it also keeps the order as asked,
 *   so that recovery can resume the run instead (recovery.ts).
 * - finish → order_finish: recorded once, by the run's owner holding the
 *   run's fence, while the run is under way; a run taken over meanwhile
 *   reads `interrupted`. A run stays in this instance's own list until its
 *   finish has answered, so its own recovery never claims a finish on its
 *   way; and a claim raises the fence, so a finish from before any claim —
 *   this instance's own included — never records over a void.
 * - awaitRun: mark the order watched (its finish will NOTIFY), then wait for
 *   the notification, re-reading every second as a backstop.
 * - requestCancel → order_cancel_request: the run under way marked, its
 *   owner told (NOTIFY order_cancel); order_finish then records no success
 *   over the mark (migration 12), and recovery cancels a claimed run that
 *   carries one rather than resume it.
 * - alarmRaised: the alarm of a run recorded compensation_failed was raised
 *   (its line written), so recovery raises it no more (`alarm_raised_at`,
 *   schema.ts migration 5). A mark that does not get through is sent again
 *   at the next recovery pass; until then the run's alarm stays covered by
 *   this instance's lease, so no one else raises it while it lives.
 *
 * A run this instance cannot record — the database went away while it ran,
 * or what the provider did for it is in doubt — is answered `interrupted`
 * and left `running`: the recovery sweep (recovery.ts) voids its payment and
 * records it once the database is back. One way to settle an unfinished
 * run, whoever left it unfinished.
 */
import type { Tier } from '../domain/tier.js';
import { setTimeout } from 'node:timers/promises';
import type { OrderResult } from '../pipeline/order-pipeline.js';
import type {
  Begun,
  CancelMark,
  CancelRequester,
  Finished,
  OrderRecord,
  OrderRecords,
  OutcomeKind,
  RecordedOutcome,
  Redrive,
} from '../orders/order-records.js';
import type { StepOutcome } from '../pipeline/steps.js';
import { Batcher, type BatcherOptions } from './batcher.js';
import {
  asNumber,
  observedAs,
  storedKey,
  unstoredKey,
  type Database,
  type KeyedRead,
  type Statement,
} from './database.js';
import { DatabaseUnavailable } from './failures.js';
import type { StatementObserver } from '../domain/trace.js';
import type { Notifications } from './notifications.js';
import type { PgLedger, RunsInDoubt } from './pg-ledger.js';
import { partsOfKey, type Order, type OrderKey } from '../domain/order.js';
import type { OrderTraceOf } from '../events/delivery-traces.js';
import type { EventTraceContext } from '../events/order-event.js';
import type { OrderListPage, OrderListQuery } from '../orders/order-list.js';
import { listPgOrders } from './pg-order-list.js';
import { GET_MANY, parseAnswer, recordOf, type RecordRow } from './pg-order-read.js';
import { RunHandOvers } from './pg-hand-over.js';
import { FENCE_AS_BEGUN, type RunHolder } from './run-holder.js';

const BEGIN_MANY: Statement = {
  name: 'order_begin_many',
  text: 'SELECT begun, begun_run, begun_replay FROM order_begin_many($1, $2, $3, $4, $5, $6)',
};
const FINISH_MANY: Statement = {
  name: 'order_finish_here_many',
  text: 'SELECT kind, here FROM order_finish_here_many($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
};
/** What a finish answers: the kind on record for the run, and whether this finish recorded it. */
interface FinishRow {
  readonly kind: Finished;
  readonly here: boolean;
}
const WATCH: Statement = {
  name: 'order_watch',
  text: 'UPDATE orders SET watched = true WHERE order_id = $1 RETURNING run, state, kind, replay',
};
const CANCEL: Statement = {
  name: 'order_cancel_request',
  text: 'SELECT state, run, kind FROM order_cancel_request($1, $2, $3)',
};
const REDRIVE: Statement = {
  name: 'order_redrive',
  text: 'SELECT answer, outcome, new_run, fingerprint, request FROM order_redrive($1, $2, $3, $4)',
};
interface RedriveRow {
  readonly answer: 'unknown' | 'not_redrivable' | 'money_unsettled' | 'redriven';
  readonly outcome: OutcomeKind | null;
  readonly new_run: string | null;
  readonly fingerprint: string | null;
  readonly request: string | null;
}
const STEPS_CARRIED: Statement = {
  name: 'order_steps_carried',
  text: "SELECT result FROM order_steps WHERE order_id = $1 AND run = $2 AND outcome = 'ok'",
};
const PEEK: Statement = { name: 'order_peek', text: 'SELECT run, state, kind, replay FROM orders WHERE order_id = $1' };
const ALARMS_RAISED: Statement = {
  name: 'order_alarms_raised',
  text: `UPDATE orders o SET alarm_raised_at = now()
           FROM unnest($1::text[], $2::bigint[]) AS raised (order_id, run)
          WHERE o.order_id = raised.order_id AND o.run = raised.run AND o.kind = 'compensation_failed' AND o.alarm_raised_at IS NULL`,
};

/** A waiter looks again this often, whatever it was told (a notification can be lost). */
const WAIT_BACKSTOP_MS = 1000;

interface RunRow {
  readonly run: string;
  readonly state: 'running' | 'done';
  readonly kind: OutcomeKind | null;
  readonly replay: string | null;
}

export interface PgOrderRecordsOptions {
  /** How long a final outcome is replayed (IDEMPOTENCY_TTL_MS). */
  readonly replayMs: number;
  /** This instance's identity while its lease holds. */
  readonly owner: () => string | undefined;
  /** Begins and finishes of orders at about the same time go together (see batcher.ts). */
  readonly batching: Omit<BatcherOptions<never>, 'order' | 'observe'>;
  /** Told of each order's begin and finish (its trace); without: none is timed. */
  readonly statements?: StatementObserver;
  /** The trace of an order being finished, kept on its events (tracing); absent with tracing off. */
  readonly traceOf?: OrderTraceOf;
  /**
   * How long a finish whose answer was lost (Postgres went away while it was
   * on its way) is tried again to learn what it recorded, before the caller
   * is told the outcome is unknown.
   */
  readonly settleWithinMs: number;
}

/** A finish whose answer was lost is tried again after this, doubling up to SETTLE_RETRY_MAX_MS. */
const SETTLE_RETRY_MS = 100;
const SETTLE_RETRY_MAX_MS = 1000;

interface BeginCall {
  readonly id: string;
  readonly fingerprint: string;
  readonly owner: string;
  /** The run's tier, kept with the order (null: not said). */
  readonly tier: Tier | null;
  /** The order as asked for (JSON) and its own deadline: kept only for an order with one, the only kind resumed. */
  readonly request: string | null;
  readonly deadlineMs: number | null;
}

interface BeginRow {
  readonly begun: 'started' | 'running' | 'replay' | 'reused';
  readonly begun_run: string | null;
  readonly begun_replay: string | null;
}

interface FinishCall {
  readonly id: string;
  readonly run: number;
  readonly owner: string;
  readonly fence: number;
  readonly outcome: RecordedOutcome;
  readonly trace: EventTraceContext | undefined;
}

/** Rows of orders locked in one order by every batch. */
const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class PgOrderRecords implements OrderRecords {
  /** Runs this instance has begun (or resumed) and not yet finished, with the identity and fence each runs under. */
  private readonly local = new Map<number, RunHolder>();
  /** Runs whose alarm was raised here and not yet marked raised in Postgres: stored order id → run. */
  private readonly raisedUnmarked = new Map<string, number>();
  /** Rows in `orders`, as last counted (size() must answer at once). */
  counted = 0;
  /** GET /orders/{id}'s reads, on the reads' own share, sent together. */
  private readonly reads: KeyedRead<RecordRow>;
  private readonly begins: Batcher<BeginCall, BeginRow>;
  private readonly finishes: Batcher<FinishCall, FinishRow>;
  private readonly handOvers: RunHandOvers;

  constructor(
    private readonly db: Database,
    private readonly ledger: PgLedger,
    private readonly inDoubt: RunsInDoubt,
    private readonly notifications: Notifications,
    private readonly options: PgOrderRecordsOptions,
  ) {
    const { batching } = options;
    this.reads = db.readByKey<RecordRow>(GET_MANY, 'order_id');
    this.begins = new Batcher<BeginCall, BeginRow>(
      (calls) =>
        db.query<BeginRow>(BEGIN_MANY, [
          calls.map((c) => c.id),
          calls.map((c) => c.fingerprint),
          calls.map((c) => c.owner),
          calls.map((c) => c.tier),
          calls.map((c) => c.request),
          calls.map((c) => c.deadlineMs),
        ]),
      { ...batching, order: byId, observe: observedAs('order_begin', options.statements) },
    );
    this.finishes = new Batcher<FinishCall, FinishRow>(
      (calls) =>
        db.query(FINISH_MANY, [
          calls.map((c) => c.id),
          calls.map((c) => c.run),
          calls.map((c) => c.owner),
          calls.map((c) => c.fence),
          calls.map((c) => c.outcome.kind),
          calls.map((c) => jsonOf(c.outcome.replay)),
          options.replayMs,
          calls.map((c) => c.trace?.traceId ?? null),
          calls.map((c) => c.trace?.spanId ?? null),
          calls.map((c) => jsonOf(c.outcome.answered)),
        ]),
      { ...batching, order: byId, observe: observedAs('order_finish', options.statements) },
    );
    this.handOvers = new RunHandOvers(db, batching);
  }

  async get(key: OrderKey): Promise<OrderRecord | undefined> {
    const row = await this.reads(storedKey(key), partsOfKey(key).client);
    return row && recordOf(key, row);
  }

  async begin(key: OrderKey, fingerprint: string, tier?: Tier, asked?: Order): Promise<Begun> {
    const owner = this.options.owner();
    if (owner === undefined) throw new DatabaseUnavailable('this instance holds no lease');
    // An order on the service's deadline has none left by the time its instance's lease expires: nothing to keep.
    const deadlineMs = asked?.deadlineMs ?? null;
    const request = deadlineMs === null ? null : JSON.stringify(asked);
    const row = await this.begins.call({
      id: storedKey(key),
      fingerprint,
      owner,
      tier: tier ?? null,
      request,
      deadlineMs,
    });
    switch (row.begun) {
      case 'started': {
        const run = asNumber(row.begun_run!);
        this.local.set(run, { owner, fence: FENCE_AS_BEGUN });
        return { kind: 'started', run };
      }
      case 'running':
        return { kind: 'running', run: asNumber(row.begun_run!) };
      case 'replay':
        return { kind: 'replay', result: parseAnswer(row.begun_replay)! };
      case 'reused':
        return { kind: 'reused' };
    }
  }

  async redrive(key: OrderKey, kinds: readonly OutcomeKind[], carried: readonly string[]): Promise<Redrive> {
    const owner = this.options.owner();
    if (owner === undefined) throw new DatabaseUnavailable('this instance holds no lease');
    const id = storedKey(key);
    const [row] = await this.db.query<RedriveRow>(REDRIVE, [id, owner, kinds, carried]);
    if (!row || row.answer === 'unknown') return { kind: 'unknown' };
    if (row.answer === 'not_redrivable') return { kind: 'not_redrivable', outcome: row.outcome ?? undefined };
    if (row.answer === 'money_unsettled') return { kind: 'money_unsettled', outcome: row.outcome! };
    const run = asNumber(row.new_run!);
    this.local.set(run, { owner, fence: FENCE_AS_BEGUN });
    const steps = await this.db.query<{ result: string }>(STEPS_CARRIED, [id, run]);
    const order = JSON.parse(row.request!) as Order;
    return {
      kind: 'redriven',
      resumption: {
        key,
        run,
        fingerprint: row.fingerprint!,
        order,
        finished: steps.map((step) => JSON.parse(step.result) as StepOutcome),
      },
    };
  }

  /** As it runs here, under its identity and fence (./pg-hand-over.ts): this instance's no longer after. */
  handOver(key: OrderKey, run: number): Promise<boolean> {
    return this.handOvers.handOver(storedKey(key), run, this.local);
  }

  async requestCancel(key: OrderKey, by: CancelRequester): Promise<CancelMark | undefined> {
    const [row] = await this.db.query<{ state: 'running' | 'done'; run: string; kind: OutcomeKind | null }>(CANCEL, [
      storedKey(key),
      by.actor,
      by.actorKey ?? null,
    ]);
    if (!row) return undefined;
    return row.state === 'running' ? { kind: 'marked', run: asNumber(row.run) } : { kind: 'ended', outcome: row.kind! };
  }

  /** Told of each order whose run a cancel was marked on, by any instance (it cancels the run if it runs it). */
  onCancelRequested(listener: (key: OrderKey) => void): void {
    this.notifications.onPayload('order_cancel', (id) => listener(unstoredKey(id)));
  }

  async finish(key: OrderKey, run: number, outcome: RecordedOutcome): Promise<Finished> {
    const holder = this.local.get(run);
    if (holder === undefined) return 'interrupted';
    const { owner, fence } = holder;
    let finished: Finished = 'interrupted';
    try {
      // What the provider did for this run is unknown here: void it, whatever it was, and say so. Should
      // that not get through, the run is left running, and recovery voids and records it the same way:
      // interrupted is what stands in the end, whoever writes it.
      if (this.inDoubt.take({ order: key, run }))
        return await this.interrupt(key, run, owner, fence).catch(() => 'interrupted' as const);
      const { kind, here, again } = await this.settle(() => this.record(key, run, owner, fence, outcome));
      // Another's outcome on record for this run (it was fenced out and ended by whoever took it over): its answer is
      // the order's. A finish written again after an answer was lost finds its own first write there, of its own
      // kind, as not its own: taken for its own.
      const own = here || (again && kind === outcome.kind);
      finished =
        own || kind === 'interrupted' || kind === 'cancel_requested' || kind === 'outcome_unknown'
          ? kind
          : 'taken_over';
      return finished;
    } finally {
      // Only now, the finish answered or given up on: while it is on its way
      // the run is still this instance's, and its own recovery leaves it alone.
      // A success refused for a cancel stays so: its undo and its finish as
      // canceled follow.
      if (finished !== 'cancel_requested') this.local.delete(run);
    }
  }

  /**
   * Write a finish, and if its answer is lost, write it again until one
   * comes back: a finish that failed may have committed all the same (the
   * connection went while the commit was on its way), and only the database
   * can say. Writing again is safe: a second finish of a run already done
   * answers what is recorded for it, and one fenced out by a claim answers
   * interrupted. If no answer comes within `settleWithinMs`, the outcome is
   * unknown — never `interrupted`, which would tell the client nothing of
   * the order stands when its charge may: the run is left to recovery (it
   * voids it if the finish never committed), and a retry learns the answer.
   */
  private async settle(write: () => Promise<FinishRow>): Promise<FinishRow & { readonly again: boolean }> {
    const giveUpAt = performance.now() + this.options.settleWithinMs;
    for (let waitMs = SETTLE_RETRY_MS, again = false; ; waitMs = Math.min(2 * waitMs, SETTLE_RETRY_MAX_MS)) {
      try {
        return { ...(await write()), again };
      } catch {
        if (performance.now() + waitMs > giveUpAt) return { kind: 'outcome_unknown', here: false, again };
        again = true;
        await setTimeout(waitMs);
      }
    }
  }

  async awaitRun(key: OrderKey, run: number, signal: AbortSignal): Promise<RecordedOutcome> {
    const id = storedKey(key);
    // Listening before marking it watched: a notification in between is not lost.
    const watch = this.notifications.watch('order_done', id);
    try {
      for (let statement = WATCH; ; statement = PEEK) {
        if (signal.aborted) throw signal.reason;
        const [row] = await this.db.query<RunRow>(statement, [id]);
        // Gone, or run again since: nothing is known of that run any more.
        if (!row || asNumber(row.run) !== run) return { kind: 'interrupted', replay: undefined };
        if (row.state === 'done') return { kind: row.kind!, replay: parseAnswer(row.replay) };
        await watch.next(signal, WAIT_BACKSTOP_MS);
      }
    } finally {
      watch.dispose();
    }
  }

  async alarmRaised(key: OrderKey, run: number): Promise<void> {
    this.noteAlarmRaised(key, run);
    await this.markRaisedAlarms();
  }

  /** The alarm's line is written: marked raised with the next `markRaisedAlarms`. */
  noteAlarmRaised(key: OrderKey, run: number): void {
    this.raisedUnmarked.set(storedKey(key), run);
  }

  /**
   * Mark raised, in Postgres, the alarms raised here that are not marked yet (recovery calls it every pass). Never
   * rejects.
   */
  async markRaisedAlarms(): Promise<void> {
    if (this.raisedUnmarked.size === 0) return;
    const marking = [...this.raisedUnmarked];
    try {
      await this.db.query(ALARMS_RAISED, [marking.map(([id]) => id), marking.map(([, run]) => run)]);
      for (const [id, run] of marking) if (this.raisedUnmarked.get(id) === run) this.raisedUnmarked.delete(id);
    } catch {
      // Kept, for the next pass. Should this instance die first, its alarms are raised again by another: twice, never
      // not at all.
    }
  }

  list(query: OrderListQuery): Promise<OrderListPage> {
    return listPgOrders(this.db, query);
  }

  size(): number {
    return this.counted;
  }

  /** Postgres's records are bounded by its disk, not by this process's memory: never full here. */
  isFull(): boolean {
    return false;
  }

  bytesOf(): undefined {
    return undefined;
  }

  /** Nor is any client's share of them. */
  isFullFor(): boolean {
    return false;
  }

  /** Runs this instance is running or recording right now (recovery leaves them alone). */
  localRuns(): number[] {
    return [...this.local.keys()];
  }

  /** Who runs `run` here and under which fence; undefined if it is not this instance's. */
  holderOf(run: number): RunHolder | undefined {
    return this.local.get(run);
  }

  /** A run recovery took over to resume here: this instance's from now on, under the fence its claim set. */
  adopt(run: number, owner: string, fence: number): void {
    this.local.set(run, { owner, fence });
  }

  /**
   * Void a run's payment, then record it `interrupted`: for a run whose
   * instance is gone (recovery, with the fence its claim set), or whose
   * money this instance lost track of. Resolves with the kind on record
   * afterwards.
   */
  async interrupt(
    key: OrderKey,
    run: number,
    owner: string,
    fence: number,
    kind: 'interrupted' | 'canceled' | 'dead_lettered' = 'interrupted',
  ): Promise<Finished> {
    await this.ledger.void({ order: key, run }, false, { owner, fence });
    // A cancel is final, as a canceled run's own answer is: a retry is told so, never run afresh after the cancel. So
    // is a run parked for a person (dead_lettered): a retry would only be lost again the same way.
    const replay: OrderResult | undefined =
      kind !== 'interrupted'
        ? { orderId: partsOfKey(key).orderId, steps: [], compensations: [], failure: kind }
        : undefined;
    return (await this.record(key, run, owner, fence, { kind, replay })).kind;
  }

  private async record(
    key: OrderKey,
    run: number,
    owner: string,
    fence: number,
    outcome: RecordedOutcome,
  ): Promise<FinishRow> {
    const trace = this.options.traceOf?.(key);
    return this.finishes.call({ id: storedKey(key), run, owner, fence, outcome, trace });
  }
}

const jsonOf = (answer: OrderResult | undefined): string | null => (answer ? JSON.stringify(answer) : null);
