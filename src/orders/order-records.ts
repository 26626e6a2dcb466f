/**
 * What the service keeps of each order, by its key (its client and its
 * order_id: src/domain/order.ts): what it asked for (a
 * fingerprint), how many times it has run, whether a run is under way, and
 * the latest run's answer — replayed to a retry when it is final. A small
 * interface, so that a store shared by several instances (Postgres) can
 * replace the in-memory one without the pipeline or the HTTP layer knowing.
 * Async for that reason, although the in-memory store never waits.
 *
 * The contract, for every implementation (test/integration/order-records.test.ts):
 * - `begin` is one atomic decision, across every instance sharing the store:
 *   of any number of callers beginning the same order at once, one starts a
 *   run and the others learn that it is under way (`running`).
 * - `finish` records a run's outcome once, and only if the run is still the
 *   order's current one and still under way: a run that was taken over
 *   (its instance was presumed dead and its payment voided) is recorded as
 *   `interrupted` by whoever took it, and its finish says so.
 * - `awaitRun` lets a caller wait for a run under way anywhere.
 * - A run recorded `compensation_failed` has its alarm raised at least once:
 *   by the instance that ran it, which tells the records (`alarmRaised`) once
 *   its line is written; a store shared by several instances also raises,
 *   through its own recovery, the alarm of a run whose instance was lost
 *   before it told (src/store/store.ts, `onUnraisedAlarm`).
 * - `requestCancel` marks a run under way canceled, and who asked. The mark and the run's
 *   finish are ordered by the record itself: a finish after the mark does
 *   not record a success (`cancel_requested`: its caller refunds, then
 *   records `canceled`), and a mark after the finish finds the order ended.
 *   This is the one place a cancel racing an order's end is decided, so a
 *   cancel said `marked` never leaves money taken.
 */
import type { OrderFailureKind } from '../domain/errors.js';
import type { Order, OrderKey } from '../domain/order.js';
import type { Tier } from '../domain/tier.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';
import type { StepOutcome } from '../pipeline/steps.js';

/** Where a store records each step's end, for a resume (the pipeline's contract, as the stores know it). */
export type { StepJournal } from '../pipeline/steps.js';
import type { OrderListPage, OrderListQuery } from './order-list.js';

/** How a run ended: 'ok', or the kind it failed with. */
export type OutcomeKind = OrderFailureKind | 'ok';

export interface RecordedOutcome {
  readonly kind: OutcomeKind;
  /** Present when the outcome is final: the answer a retry gets again, without anything running. */
  readonly replay: OrderResult | undefined;
  /**
   * When it is not (a timeout, an outage…) and its steps ran: the answer its callers were told, kept so that the
   * order's timeline can show which step made it late or failed. Never replayed: a retry runs the order again.
   */
  readonly answered?: OrderResult;
}

/**
 * A run on record as compensation_failed whose alarm its own instance never
 * said it raised (it was lost first): what the records know of it, for the
 * line a person reads.
 */
export interface UnraisedAlarm {
  readonly key: OrderKey;
  readonly run: number;
  /** What the provider holds of the run. */
  readonly charged: number;
  readonly refunded: number;
  /** The refunds, as the run's recorded answer lists them. */
  readonly compensations: readonly StepOutcome[];
}

/**
 * A run whose instance was lost, taken over by this one to run on (a shared store's recovery): its steps that ended ok
 * before stand, the others run again under the same run — the provider's idempotency key — and it is recorded as any
 * run of this instance's.
 */
export interface Resumption {
  readonly key: OrderKey;
  readonly run: number;
  readonly fingerprint: string;
  /** The order as asked for, its deadline what is left of it. */
  readonly order: Order;
  /** Its steps recorded ok, as recorded. */
  readonly finished: readonly StepOutcome[];
}

export interface OrderRecord {
  /** Its client and its id. */
  readonly key: OrderKey;
  /**
   * What the order asked for, hashed: a retry must ask for the same. A store may keep only 64 bits of a done one's
   * (src/orders/fingerprints.ts): compare with `isFingerprintOf`.
   */
  readonly fingerprint: string;
  /** Runs started so far; the latest is run number `runs`. */
  readonly runs: number;
  readonly state: 'running' | 'done';
  /** The latest run's answer; undefined while it runs. */
  readonly outcome: RecordedOutcome | undefined;
  /** The tier the latest run ran at; absent where the store does not keep it. */
  readonly tier?: Tier;
  /**
   * The deadline the latest run's order sent (its deadline_ms); absent when it runs on the service's, or where the store
   * keeps it apart (a durable store's timeline reads it with the steps).
   */
  readonly ownDeadlineMs?: number;
  /** The run under way was taken over from a lost instance and runs on (forward recovery); absent otherwise. */
  readonly resumed?: true;
  /** Who canceled the latest run, and when: while it winds down from the cancel, and once it is recorded canceled. */
  readonly canceled?: CancelRequest;
}

/**
 * What the admin's redrive found: the order sent on as a new run (to run here after the steps carried over), or why
 * not — no record, not an order that may be redriven (`outcome` undefined: still running), or its money unsettled.
 */
export type Redrive =
  | { readonly kind: 'redriven'; readonly resumption: Resumption }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'not_redrivable'; readonly outcome: OutcomeKind | undefined }
  | { readonly kind: 'money_unsettled'; readonly outcome: OutcomeKind };

/**
 * Who asks an order's run to stop, as an audit line names them: its client's name (`admin` for the admin's), and
 * which admin key it came with, by its fingerprint — never the key.
 */
export interface CancelRequester {
  readonly actor: string;
  readonly actorKey?: string;
}

/** The cancel marked on an order's run: who asked first, and when (ms since the epoch). */
export interface CancelRequest extends CancelRequester {
  readonly at: number;
}

/** What a cancel found: a run under way, now marked (it ends canceled), or an order that has ended. */
export type CancelMark =
  { readonly kind: 'marked'; readonly run: number } | { readonly kind: 'ended'; readonly outcome: OutcomeKind };

/**
 * What a finish recorded: the kind on record for the run, or `cancel_requested` — the run succeeded but a cancel was
 * marked first: nothing is recorded; undo what the run did, then record it `canceled` — or `taken_over`: the run was
 * taken over meanwhile (its instance paused past its lease, say) and ended by another, whose outcome and answer are on
 * record (`awaitRun`): that answer is the order's, not this run's.
 */
export type Finished = OutcomeKind | 'cancel_requested' | 'taken_over';

export type Begun =
  /** A new run of the order starts, with this number. */
  | { readonly kind: 'started'; readonly run: number }
  /** Its final outcome is on record: replay it. */
  | { readonly kind: 'replay'; readonly result: OrderResult }
  /** The order_id belongs to a different order. */
  | { readonly kind: 'reused' }
  /**
   * A run of the order is under way (on another instance, when several share the store): wait for it with `awaitRun`.
   */
  | { readonly kind: 'running'; readonly run: number }
  /**
   * No room to record another order until older records expire (records are
   * never forgotten before their time to live): nothing started; shed it.
   */
  | { readonly kind: 'full' };

export interface OrderRecords {
  /** The record of the order, if it is still kept. */
  get(order: OrderKey): Promise<OrderRecord | undefined>;
  /**
   * The admin's redrive: an order that ended in one of `kinds`, its money settled, begun again as a new run owned
   * here, carrying over its steps named in `carried` that were recorded ok. Absent where the order as asked and its
   * steps are not kept (in memory): nothing to redrive.
   */
  redrive?(order: OrderKey, kinds: readonly OutcomeKind[], carried: readonly string[]): Promise<Redrive>;
  /**
   * Give up a run this instance stops at a graceful stop, unended, for another instance to resume at once under the
   * same run — its steps recorded ok standing, its payment as it is: nothing of it is recorded or undone here. Resolves
   * whether it was handed over (not if it was no longer this instance's). Absent where no other instance shares the
   * records: nothing outlives the process to run on.
   */
  handOver?(order: OrderKey, run: number): Promise<boolean>;
  /**
   * Start a new run of the order, at `tier` (kept with the record) — unless a final outcome is on record, or the id is
   * another order's. `asked`: the order as asked for, kept by a store that can resume a run whose instance was lost.
   */
  begin(order: OrderKey, fingerprint: string, tier?: Tier, asked?: Order): Promise<Begun>;
  /**
   * The run has ended with `outcome`: record it. Resolves with the kind now on
   * record for the run — `outcome.kind`, or `interrupted` if the run was taken
   * from this instance meanwhile, or if the store lost track of what the run
   * did (it could not be reached while the run charged or refunded) — or
   * `outcome_unknown` if the store went away while the outcome was on its way
   * and cannot say whether it kept it: then the store settles the run once it
   * can (voids it if nothing was kept), a retry learns which, and if what it
   * kept is compensation_failed and this instance is gone before it learned
   * it, the store raises the alarm (`alarmRaised`). Never rejects.
   */
  finish(order: OrderKey, run: number, outcome: RecordedOutcome): Promise<Finished>;
  /**
   * Mark the order's run under way canceled, `by` whom (the first to ask is the one kept); undefined: no record of the
   * order. Rejects if the store cannot be reached.
   */
  requestCancel(order: OrderKey, by: CancelRequester): Promise<CancelMark | undefined>;
  /**
   * Wait until run `run` of the order has ended; its recorded outcome. Rejects
   * if `signal` aborts first, or if the store cannot be reached.
   */
  awaitRun(order: OrderKey, run: number, signal: AbortSignal): Promise<RecordedOutcome>;
  /**
   * The alarm of run `run`, on record as compensation_failed, is raised: its
   * line is written. Told after the line, never before: a process that dies
   * in between leaves it to be raised again (at least once, not exactly
   * once). A store that raises the alarms of lost instances' runs raises
   * this one no more. Never rejects.
   */
  alarmRaised(order: OrderKey, run: number): Promise<void>;
  /** A page of the orders kept, newest first (GET /orders: src/orders/order-list.ts). */
  list(query: OrderListQuery): Promise<OrderListPage>;
  /** Records kept right now. */
  size(): number;
  /**
   * Whether a new order would be refused now for want of room (`full`): readiness says so, for a balancer to send
   * orders elsewhere.
   */
  isFull(): boolean;
  /**
   * Bytes kept of `client`'s orders in this process's memory (what
   * ORDER_RECORDS_MAX_MB bounds); undefined where records are not kept in
   * this process's memory.
   */
  bytesOf(client: string): number | undefined;
  /** Bytes kept of every order in this process's memory, estimated (what ORDER_RECORDS_MAX_MB bounds); absent elsewhere. */
  estimatedBytes?(): number;
  /**
   * Whether a new order of `client` would take what is kept of its orders past `limitBytes` (its share); never where
   * records are not kept in memory.
   */
  isFullFor(client: string, limitBytes: number): boolean;
}
