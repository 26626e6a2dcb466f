/**
 * The order desk: where an order is admitted, run once, and answered — safe
 * to retry, keyed by order_id. A retry with the same
 * order while the first still runs joins it — one execution, every caller
 * gets its outcome (singleflight) — and once it has ended, a retry within the
 * records' time to live gets the recorded outcome again, without running
 * anything. The same order_id with a different order is refused.
 *
 * Only final outcomes are replayed. An order that timed out, was shed, was
 * turned away at shutdown, lost its threads, or whose every caller went away
 * left nothing standing — its steps were canceled and its payment voided — so
 * a retry runs it afresh, as a new run, instead of being told the same passing
 * failure again. A run that every caller has left is being wound down: a
 * caller arriving then waits for it to end and gets a run of its own, never
 * the answer meant for callers who are gone.
 *
 * With several instances on one store, the records decide which instance
 * runs an order (`begin` is atomic across them); a caller on another instance
 * waits for that run's record and gets its final answer — or, if the run
 * ended without one (a timeout, its instance lost), a run of its own, as a
 * retry would. A store that cannot be reached starts nothing: 503
 * store_unavailable.
 */
import {
  abortKind,
  OrderAborted,
  RunHandedOver,
  StoreBusy,
  unanswered,
  type OrderFailureKind,
} from '../domain/errors.js';
import { keyOfOrder, runOf, partsOfKey, type Order, type OrderKey, type OrderRun } from '../domain/order.js';
import type { Trace } from '../domain/trace.js';
import type { RunStopper } from '../pipeline/order-in-flight.js';
import type { OrderResult, TakenOver } from '../pipeline/order-pipeline.js';
import type { StepOutcome } from '../pipeline/steps.js';
import type { OrderWaiter } from './order-waiter.js';
import { fingerprintOf, isFingerprintOf } from './fingerprints.js';
import type { CancelRequester, OrderRecords, Redrive, Resumption } from './order-records.js';
import { answerOnRecord, withFailure } from './answer-on-record.js';
import { REDRIVABLE_OUTCOMES } from '../domain/lifecycle.js';
import { compensationOf, STEP_NAMES, type StepName } from '../domain/steps.js';
import { Run } from './desk-run.js';
import type { RunStop } from './run-stop.js';
import { outcomeOf } from './replayed-outcomes.js';
import { cancelOrder, type CancelOutcome } from './order-cancel.js';
import type { AdmissionPolicy, AdmittedOnTerms, Refusal } from './admission.js';
import { TakeoverRooms, type TakeoverRoom } from './takeover-rooms.js';
import { CompensationAlarms } from './compensation-alarms.js';
import { DEFAULT_TIER, type Tier } from '../domain/tier.js';

/** The steps a redrive carries over when they had ended ok: those whose effect was not undone with their run. */
const CARRIED_ON_REDRIVE: readonly StepName[] = STEP_NAMES.filter((name) => compensationOf(name) === undefined);

/**
 * How an order was answered: `ran` here, `joined` to a run already under way (here or on another instance), or
 * `replayed` from its record.
 */
export type AnsweredVia = 'ran' | 'joined' | 'replayed';

export type Submission =
  /** `ran`: this call started it; `joined`: it joined a run already under way; `replayed`: recorded earlier. */
  | { readonly kind: 'answered'; readonly result: OrderResult; readonly via: AnsweredVia }
  /** The order_id belongs to a different order. */
  | { readonly kind: 'reused' }
  /** No new run could start: why, as a fact. */
  | { readonly kind: 'refused'; readonly because: Refusal };

/** What the admin's redrive found (the records' answer), or that no run may start here now: nothing was redriven. */
export type RedriveAnswer = Redrive | { readonly kind: 'refused'; readonly because: Refusal; readonly tier: Tier };

/** The records had no room for the order: nothing started. */
const RECORDS_FULL: Submission = { kind: 'refused', because: { refused: 'service_full', full: 'records' } };

export interface OrderRunner {
  /** `takenOver`: a run begun by a lost instance — its steps recorded ok stand, and it is settled as a whole. */
  process(run: OrderRun, stop: RunStopper, trace: Trace, takenOver?: TakenOver): Promise<OrderResult>;
  /** Undo what the steps of a run that has ended did, failing it with `failure` (a success canceled too late). */
  undo(run: OrderRun, steps: readonly StepOutcome[], failure: OrderFailureKind, trace: Trace): Promise<OrderResult>;
}

/** What the desk tells whoever watches, as runs end. */
export interface RunEvents {
  /** Every run as it ends, with the result it reached (before the records had their say). */
  runEnded(run: OrderRun, result: OrderResult): void;
  /**
   * The run is on record as compensation_failed: the provider refused to give
   * its money back. A person must look, whatever became of the client. Told
   * only once the records say so — a run the store lost track of is recorded
   * interrupted and voided by recovery, and needs no one.
   */
  compensationFailed(run: OrderRun, compensations: readonly StepOutcome[], trace: Trace): void;
}

const UNWATCHED: RunEvents = { runEnded: () => {}, compensationFailed: () => {} };

/** How a run ended: `ran` here, `joined` to a run on another instance, or `replayed` from its record. */
type RunEnd =
  | { readonly kind: 'answered'; readonly result: OrderResult; readonly via: AnsweredVia }
  | { readonly kind: 'reused' }
  | typeof RECORDS_FULL;

/** A run under way here, whose callers are told how it ended. */
type DeskRun = Run<RunEnd>;

/** An answer without a run: nothing ran, nothing is recorded. */
const unrun = (orderId: string, failure: OrderFailureKind): Extract<RunEnd, { kind: 'answered' }> => ({
  kind: 'answered',
  result: { orderId, steps: [], compensations: [], failure },
  via: 'ran',
});

export class OrderDesk {
  /** Runs under way in this process, by order (its key). */
  private readonly running = new Map<OrderKey, DeskRun>();
  private idleWaiters: Array<() => void> = [];
  private readonly runEndListeners: Array<() => void> = [];
  /**
   * Room given to runs taken over (resumed, redriven) whose runs have not started yet — their claim is on its way —
   * counted in flight; and the rules they are admitted by.
   */
  readonly takeovers = new TakeoverRooms(() => this.roomGivenBack());

  private readonly alarms: CompensationAlarms;
  /**
   * Runs the records took as handed over. Fewer than were stopped to be handed over when a run's steps had all ended
   * before the stop reached them: it finishes here, and is no one else's to resume.
   */
  private handOvers = 0;

  constructor(
    private readonly pipeline: OrderRunner,
    private readonly records: OrderRecords,
    private readonly events: RunEvents = UNWATCHED,
  ) {
    this.alarms = new CompensationAlarms(records, (run, compensations, trace) =>
      events.compensationFailed(run, compensations, trace),
    );
  }

  /** Runs under way, counted from the moment they are admitted, and the room given to runs taken over. */
  get runsInFlight(): number {
    return this.running.size + this.takeovers.count;
  }

  /**
   * Answer `order` for `waiter`, whose going stops the run once its other waiters have gone too. `policy` is
   * asked only when a new run must start, right before it starts; nothing is
   * awaited between its answer and the run being counted.
   */
  async submit(order: Order, waiter: OrderWaiter, trace: Trace, policy: AdmissionPolicy): Promise<Submission> {
    const fingerprint = fingerprintOf(order);
    const key = keyOfOrder(order);
    for (;;) {
      // A caller gone before its order starts or joins a run starts nothing: the run would be canceled at once, and its
      // record would replace the outcome the client was told since (a copy of a request the client gave up on can reach
      // the service after the client's retry was answered).
      if (waiter.gone) return unrun(order.orderId, 'client_gone');
      const underWay = this.running.get(key);
      if (underWay) {
        if (underWay.fingerprint !== fingerprint) {
          if (underWay.confirmed) return { kind: 'reused' };
          // Which of the two orders holds the id is for the records to say.
          await underWay.end;
          continue;
        }
        if (!underWay.stop.stopped) return this.wait(underWay, waiter, 'joined', policy);
        // Every caller of that run has gone: it is winding down (its payment
        // being voided). Wait for it to end, then run afresh.
        await underWay.end;
        continue;
      }
      // Admitted runs ask the records once, in `begin`: a replay or a reused
      // id is told there. Nothing is awaited between admission and the run
      // being counted.
      const admission = policy.admit();
      if (admission === 'admitted') return this.wait(this.start(order, key, fingerprint, trace), waiter, 'ran', policy);
      if (typeof admission === 'object' && 'admitted' in admission)
        return this.wait(this.start(order, key, fingerprint, trace, admission), waiter, 'ran', policy);
      // No run may start now; a recorded outcome is answered all the same.
      const record = await this.records.get(key).catch(() => undefined);
      // While the records answered, another caller may have started the order.
      if (this.running.has(key)) continue;
      if (record && !isFingerprintOf(record.fingerprint, fingerprint)) return { kind: 'reused' };
      const replay = record?.state === 'done' ? record.outcome?.replay : undefined;
      if (replay) return { kind: 'answered', result: replay, via: 'replayed' };
      const waiting = policy.waitForRoom?.(admission);
      if (waiting && (await waiting)) continue;
      return { kind: 'refused', because: admission };
    }
  }

  /**
   * Counted in `running` at once, before anything is awaited. As it ends it is forgotten, then `ended` is told, before
   * any caller is answered: one reaction does both, not a `finally` and a `then` of it (310 bytes an order in flight,
   * a promise and three closures of them: npm run measure -- order-memory).
   */
  private start(order: Order, key: OrderKey, fingerprint: string, trace: Trace, terms?: AdmittedOnTerms): DeskRun {
    const run = new Run<RunEnd>(fingerprint);
    run.handsOver = order.deadlineMs !== undefined;
    return this.track(key, run, this.execute(order, key, run, trace), terms);
  }

  /**
   * Run on a run of a lost instance's that recovery took over to this one (forward recovery): its steps recorded ok
   * stand, the others run again under the same run — the provider's idempotency key — and it is recorded as any run
   * here. Nobody waits for it: its client hears its end through its events, or asks; a retry joins it. A copy of the
   * order here may wait for the lost instance's run: it is resumed beside that wait, which its record ends (left
   * alone, it would be this instance's and run nowhere, the wait forever). One under way here is left alone. `room`:
   * the room it was given (takeovers.admit), which it takes; without, it is counted as it starts.
   */
  resume({ key, run: runNumber, fingerprint, order, finished }: Resumption, trace: Trace, room?: TakeoverRoom): void {
    if (this.running.get(key)?.runsHere) return room?.release();
    const terms = room?.take();
    const run = new Run<RunEnd>(fingerprint);
    run.confirmed = true;
    run.handsOver = true;
    // Its client was answered 202 long ago and waits for its end elsewhere: counted as waiting, so that a retry that
    // joins it here and leaves never stops it.
    run.callers = 1;
    run.begun(true);
    this.track(key, run, this.execute(order, key, run, trace, { run: runNumber, finished }), terms);
  }

  /**
   * The admin's redrive: an order parked or failed by the infrastructure, its money settled, runs again here as a new
   * run from its first unfinished step — its steps recorded ok that moved no money stand; a step with a compensation
   * (the payment) was undone with its run, so it runs again, under the new run's key. Admitted first, as a new order
   * is: refused when there is no room for it, the order left as it was, to be redriven again.
   */
  async redrive(key: OrderKey, trace: Trace): Promise<RedriveAnswer> {
    if (this.running.has(key)) return { kind: 'not_redrivable', outcome: undefined };
    if (!this.records.redrive) {
      // In memory neither the order as asked nor its steps are kept once it ends: nothing to send on.
      const record = await this.records.get(key);
      return record ? { kind: 'not_redrivable', outcome: record.outcome?.kind } : { kind: 'unknown' };
    }
    // Its tier, for its admission: what the records kept of its last run.
    const tier = (await this.records.get(key))?.tier;
    const room = this.takeovers.admit(key, tier);
    if ('refused' in room) return { kind: 'refused', because: room, tier: tier ?? DEFAULT_TIER };
    try {
      const redrive = await this.records.redrive(key, REDRIVABLE_OUTCOMES, CARRIED_ON_REDRIVE);
      if (redrive.kind === 'redriven') this.resume(redrive.resumption, trace, room);
      return redrive;
    } finally {
      room.release();
    }
  }

  /** `run`, counted in `running` until `execution` settles, then forgotten and its terms told. */
  private track(key: OrderKey, run: DeskRun, execution: Promise<RunEnd>, terms?: AdmittedOnTerms): DeskRun {
    run.end = execution.then(
      (runEnd) => {
        this.forget(key, run);
        terms?.ended(runEnd.kind === 'answered' && runEnd.via === 'ran' ? runEnd.result : undefined);
        this.roomFreed();
        return runEnd;
      },
      (error: unknown) => {
        this.forget(key, run);
        terms?.ended(undefined);
        this.roomFreed();
        throw error;
      },
    );
    this.running.set(key, run);
    return run;
  }

  /** Told whenever a run has ended and is counted nowhere any more (its terms told too): room may have freed. */
  onRunEnd(listener: () => void): void {
    this.runEndListeners.push(listener);
  }

  private roomFreed(): void {
    for (const listener of this.runEndListeners) listener();
  }

  /** A room given to a run taken over came back unused: room freed, and the desk may be idle. */
  private roomGivenBack(): void {
    if (this.runsInFlight === 0) this.wakeIdleWaiters();
    this.roomFreed();
  }

  /**
   * A run has ended: whoever waits for the desk to be idle is told once none is under way. Only `run` is forgotten: a
   * copy's wait that ends after the run resumed beside it leaves that run counted.
   */
  private forget(key: OrderKey, run: DeskRun): void {
    if (this.running.get(key) === run) this.running.delete(key);
    if (this.runsInFlight === 0) this.wakeIdleWaiters();
  }

  /**
   * `run` is confirmed once the records have taken the id as this order's. A run resumed here (`resumed`) is begun
   * already: its steps run at once, after those it finished before it was taken over. One async function for both, so
   * that an order holds one promise for its run, not one per step of the way.
   */
  private async execute(
    order: Order,
    key: OrderKey,
    run: DeskRun,
    trace: Trace,
    resumed?: Pick<Resumption, 'run' | 'finished'>,
  ): Promise<RunEnd> {
    const { orderId } = order;
    const { fingerprint, stop } = run;
    let runNumber = resumed?.run;
    while (runNumber === undefined) {
      const begun = await this.records
        .begin(key, fingerprint, order.tier, order)
        .catch((error: unknown) =>
          unanswered(error) ? ('unknown' as const) : error instanceof StoreBusy ? ('busy' as const) : undefined,
        );
      // Sent, and never answered: the run may have begun there, and be taken over and run to its end by another
      // instance. Told so, the client's retry learns how it ended; "overloaded" would say it never ran.
      if (begun === 'unknown') return unrun(orderId, 'outcome_unknown');
      // Every connection taken is a busy store, not a lost one: shed, as when too many orders run.
      if (begun === 'busy') return unrun(orderId, 'overloaded');
      if (begun === undefined) return unrun(orderId, 'store_unavailable');
      if (begun.kind === 'reused') return begun;
      if (begun.kind === 'full') return RECORDS_FULL;
      run.confirmed = true;
      if (begun.kind === 'replay') return { kind: 'answered', result: begun.result, via: 'replayed' };
      if (begun.kind === 'running') {
        run.begun(false);
        const joined = await this.joinElsewhere(key, begun.run, stop);
        if (joined) return joined;
        continue;
      }
      run.begun(true);
      runNumber = begun.run;
    }
    const orderRun = runOf(order, runNumber, key);
    let result = await this.pipeline.process(orderRun, stop, trace, resumed && { finished: resumed.finished });
    // Stopped at a graceful stop, and given up unended for a live instance to resume at once; its callers are told
    // shutting_down (ask again: a retry joins it where it goes on). Should the records not take it, it is taken over
    // once this instance's lease is let go, as after a crash.
    if (result.handedOver) {
      if (await this.records.handOver?.(key, runNumber).catch(() => false)) this.handOvers++;
      return { kind: 'answered', result, via: 'ran' };
    }
    // Recorded before the run is forgotten: a retry finds one or the other, never neither.
    let recorded = await this.records.finish(key, runNumber, outcomeOf(result, order.tier));
    // Ended by whoever took the run over while this instance could not hold it: its client is told what every other
    // copy and every retry is told, the answer on record, not what this attempt reached.
    if (recorded === 'taken_over') return answerOnRecord(this.records, key, orderRun, result);
    if (recorded === 'cancel_requested') {
      // A cancel was marked before the success could be recorded: what the steps did is undone first, so that a
      // cancel never leaves money taken, then the run is recorded canceled.
      result = await this.pipeline.undo(orderRun, result.steps, 'canceled', trace);
      recorded = await this.records.finish(key, runNumber, outcomeOf(result, order.tier));
    }
    const answer = recorded === (result.failure ?? 'ok') ? result : withFailure(result, recorded);
    // A person must look when the provider refused to give money back and that is what the records hold.
    if (answer.failure === 'compensation_failed') this.alarms.raise(key, orderRun, answer.compensations, trace);
    // The store could not say what it kept: learn it once it can, and raise the alarm then, if that is what it holds.
    else if (recorded === 'outcome_unknown' && result.failure === 'compensation_failed')
      this.alarms.raiseOnceKnown(key, orderRun, result.compensations, trace);
    this.events.runEnded(orderRun, result);
    return { kind: 'answered', result: answer, via: 'ran' };
  }

  /**
   * At shutdown: stop asking the store about runs whose refund the provider refused and whose recorded outcome it
   * could not say; their alarms are the store's now (CompensationAlarms.stopAsking).
   */
  stopAskingUnsettled(): void {
    this.alarms.stopAsking();
  }

  /**
   * The order runs elsewhere (on another instance): wait for its record, as a
   * caller joining that run. Undefined if it ended without a final answer:
   * then this caller gets a run of its own, as a retry would.
   */
  private async joinElsewhere(key: OrderKey, run: number, stop: RunStop): Promise<RunEnd | undefined> {
    const { orderId } = partsOfKey(key);
    const waiting = stop.signalUntilReleased();
    try {
      const outcome = await this.records.awaitRun(key, run, waiting.signal);
      return outcome.replay ? { kind: 'answered', result: outcome.replay, via: 'joined' } : undefined;
    } catch {
      // Canceled (every caller has gone, or the instance is shutting down or
      // gave up its lease), or the store cannot be reached.
      return unrun(orderId, stop.stopped ? abortKind(stop.reason) : 'store_unavailable');
    } finally {
      waiting.release();
    }
  }

  /** Cancel the order of `key` `by` whom (POST /orders/{id}/cancel): src/orders/order-cancel.ts. */
  cancel(key: OrderKey, by: CancelRequester, waitMs: number): Promise<CancelOutcome> {
    return cancelOrder(this.records, key, by, waitMs, (running) => this.cancelHere(running));
  }

  /**
   * Stop the order's run with `canceled`, if its steps run here: they are canceled on whatever thread they run. A wait
   * here for another instance's run is not stopped: it is answered the run's own end, as recorded.
   */
  cancelHere(key: OrderKey): void {
    const run = this.running.get(key);
    if (run?.runsHere) run.stop.stop(new OrderAborted('canceled'));
  }

  /** Cancel every run under way with `kind` (its lease given up). They still end as usual, with their outcomes. */
  cancelAll(kind: OrderFailureKind): void {
    for (const run of this.running.values()) run.stop.stop(new OrderAborted(kind));
  }

  /**
   * At a graceful stop, the runs the drain cannot wait for: each whose steps run here and that another instance could
   * run on — where the records hand runs over — is stopped to be handed over, nothing of it undone (as after a crash,
   * it is resumed elsewhere and its payment stands for it); every other is canceled `shutting_down`, its payment voided.
   */
  stopAtShutdown(): { handedOver: number; canceled: number } {
    const handing = this.records.handOver !== undefined;
    let handedOver = 0;
    for (const run of this.running.values()) {
      const handOver = handing && run.runsHere && run.handsOver && !run.stop.stopped;
      run.stop.stop(handOver ? new RunHandedOver() : new OrderAborted('shutting_down'));
      if (handOver) handedOver++;
    }
    return { handedOver, canceled: this.running.size - handedOver };
  }

  /** Runs handed over to another instance since this process started, as the records took them. */
  get handedOver(): number {
    return this.handOvers;
  }

  /**
   * Resolves when no run is under way — compensations included, runs admitted but not started yet, and runs taken over
   * whose claim is on its way.
   */
  whenIdle(): Promise<void> {
    if (this.runsInFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private wakeIdleWaiters(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Not an async function: a caller waiting keeps two reactions on the run's end, not a suspended frame. */
  private wait(run: DeskRun, waiter: OrderWaiter, via: 'ran' | 'joined', policy: AdmissionPolicy): Promise<Submission> {
    run.callers++;
    waiter.whenGone(run);
    if (policy.answeredOnceUnderWay) run.tellUnderWay(policy);
    return run.end.then(
      (end) => {
        waiter.whenGone(undefined);
        if (end.kind !== 'answered') return end;
        return { kind: 'answered', result: end.result, via: end.via === 'ran' ? via : end.via };
      },
      (error: unknown) => {
        waiter.whenGone(undefined);
        throw error;
      },
    );
  }
}
