/**
 * An order while its steps run, as one record on the main thread — what errgroup.WithContext plus context.WithTimeout
 * are in the Go service: the steps' outcomes in fixed slots, filled as the threads' reports settle them; the first
 * failure aborts the order's controller, which cancels the others; its deadline and its clients' signal abort it too.
 * It ends when every slot is filled — never at the first failure — so nothing started for the order is still running
 * when the pipeline goes on.
 *
 * The record is the whole of it: no async function, promise or closure per step. It is the listener on its clients'
 * signal (`handleEvent`), the entry of its deadline in the pipeline's one deadline list (`deadlinePassed`), and what
 * its steps' runner tells of each ending (`stepEnded`). It is also the signal its steps run under (a CancelSignal:
 * aborted, its reason, a list of listeners), so the order's run holds no AbortController at all: what stops it from
 * outside is a signal (the benchmarks') or a run's stopper, a record (the desk's).
 */
import type { AbortListener, CancelSignal } from '../domain/cancel-signal.js';
import { OrderAborted } from '../domain/errors.js';
import type { OrderRun } from '../domain/order.js';
import type { Trace } from '../domain/trace.js';
import type { Deadlined, DeadlineList } from './deadline-list.js';
import type { StepOutcome, StepSink } from './steps.js';

/**
 * What stops an order from outside — its callers gone, a shutdown — without an AbortController of its own: the order's
 * record is the only signal of its run. It tells the one order that follows it.
 */
export interface RunStopper {
  readonly stopped: boolean;
  readonly reason: unknown;
  /** Tell `follower` when stopped (at once, if it is); undefined: nobody any more. */
  follow(follower: StopFollower | undefined): void;
}

export interface StopFollower {
  parentStopped(reason: unknown): void;
}

/** Told once every step of an order has ended (or one threw, which a runner never should). */
export interface OrderEnder<Result> {
  /** One step has ended, before the order sees it (the order may end with it). */
  stepOutcome?(order: OrderInFlight<Result>, index: number, outcome: StepOutcome): void;
  stepsEnded(order: OrderInFlight<Result>): void;
  stepsThrew(order: OrderInFlight<Result>, error: unknown): void;
}

const ONCE: AddEventListenerOptions = { once: true };

/** @typeParam Result What the order is answered with (the pipeline's result). */
export class OrderInFlight<Result> implements StepSink, Deadlined, StopFollower, CancelSignal {
  /** One per step, in the order the steps were given; all filled once `pending` is 0. */
  readonly outcomes: StepOutcome[];
  private pending: number;
  /** Its first failure, its deadline or its clients have canceled it. */
  aborted = false;
  reason: unknown = undefined;
  /** Told when it aborts: the one its cancel cells share, and a computing step's wait for its turn. */
  private listener: AbortListener | undefined;
  private moreListeners: AbortListener[] | undefined;
  /** What a runner threw, if one did (then the order rejects once every step has ended). */
  private thrown: { readonly error: unknown } | undefined;
  /** The order's entry in the deadline list; -1 once taken out. */
  deadlineHandle = -1;
  /** Where the order's result goes, once its ender has it. */
  answer: ((result: Result) => void) | undefined;
  fail: ((error: unknown) => void) | undefined;
  /** Begun by an instance that was lost, and taken over here: settled as a whole if it fails (order-pipeline.ts). */
  takenOver = false;
  /** A resumed run's steps that ended before it was taken over, by slot: not run again. Absent for a fresh run. */
  recorded: readonly (StepOutcome | undefined)[] | undefined;
  /** The records of its steps' ends on their way (a durable store's), which its answer waits for. */
  journaled: Promise<void>[] | undefined;

  constructor(
    readonly run: OrderRun,
    readonly trace: Trace,
    steps: number,
    private readonly parent: AbortSignal | RunStopper,
    private readonly deadlines: DeadlineList<OrderInFlight<Result>>,
    private readonly ender: OrderEnder<Result>,
  ) {
    this.outcomes = new Array<StepOutcome>(steps);
    this.pending = steps;
    if (!(parent instanceof AbortSignal)) parent.follow(this);
    else if (parent.aborted) this.abort(parent.reason);
    else parent.addEventListener('abort', this, ONCE);
  }

  /** What the order's steps are run under: the order itself. */
  get signal(): CancelSignal {
    return this;
  }

  addEventListener(_type: 'abort', listener: AbortListener): void {
    // Told once, when it aborts: a listener added after that would never be told (as with an AbortSignal).
    if (this.aborted) return;
    if (this.listener === undefined) this.listener = listener;
    else (this.moreListeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: AbortListener): void {
    if (this.listener === listener) this.listener = this.moreListeners?.shift();
    else if (this.moreListeners) {
      const at = this.moreListeners.indexOf(listener);
      if (at >= 0) this.moreListeners.splice(at, 1);
    }
  }

  /**
   * Cancels every step: each listener is told once, in the order they were added. One that throws does not keep the
   * others from being told; its error is thrown on its own, as an EventTarget's listener's is.
   */
  private abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    // Each taken off the list as it is told, none added any more: one that a listener told before it removes (a
    // computing step granted its turn meanwhile) is not told, as with an EventTarget's dispatch.
    for (let next = this.listener; next !== undefined; next = this.listener) {
      this.listener = this.moreListeners?.shift();
      this.tell(next);
    }
    this.moreListeners = undefined;
  }

  private tell(listener: AbortListener): void {
    try {
      listener.call(this);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  /** Its clients' signal aborted. */
  handleEvent(): void {
    this.abort(this.parent.reason);
  }

  /** Its run was stopped. */
  parentStopped(reason: unknown): void {
    this.abort(reason);
  }

  deadlinePassed(): void {
    this.deadlineHandle = -1;
    this.abort(new OrderAborted('timeout'));
  }

  stepEnded(index: number, outcome: StepOutcome): void {
    this.outcomes[index] = outcome;
    this.ender.stepOutcome?.(this, index, outcome);
    if (outcome.status === 'error' && !this.aborted) this.abort(new OrderAborted(outcome.kind ?? 'internal'));
    this.settled();
  }

  stepThrew(_index: number, error: unknown): void {
    this.thrown ??= { error };
    this.abort(error);
    this.settled();
  }

  private settled(): void {
    if (--this.pending > 0) return;
    // The deadline is the steps', not the compensations'.
    this.deadlines.remove(this.deadlineHandle);
    this.deadlineHandle = -1;
    if (this.parent instanceof AbortSignal) this.parent.removeEventListener('abort', this);
    else this.parent.follow(undefined);
    if (this.thrown) this.ender.stepsThrew(this, this.thrown.error);
    else this.ender.stepsEnded(this);
  }
}
