/**
 * An order while its steps run: the signal they run under — what errgroup.WithContext plus context.WithTimeout are in
 * the Go service. It aborts at the first failure (the pipeline says so), at its deadline, or when what stops it from
 * outside does: its callers gone or a shutdown (a run's stopper), or any AbortSignal.
 *
 * A record, not an AbortController: it is the entry of its deadline in the pipeline's one deadline list
 * (`deadlinePassed`), the follower of its run's stopper, and a CancelSignal (aborted, a reason, a list of listeners)
 * without an EventTarget's listener map for every order in flight (docs/decisions/an-order-in-flight.md).
 */
import type { AbortListener, CancelSignal } from '../domain/cancel-signal.js';
import { OrderAborted } from '../domain/errors.js';
import type { Deadlined, DeadlineList } from './deadline-list.js';

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

const ONCE: AddEventListenerOptions = { once: true };

export class OrderInFlight implements CancelSignal, Deadlined, StopFollower {
  aborted = false;
  reason: unknown = undefined;
  /** Told when it aborts: the one its cancel cells share, and a computing step's wait for its turn. */
  private listener: AbortListener | undefined;
  private moreListeners: AbortListener[] | undefined;
  /** Its entry in the deadline list; -1 once taken out. */
  private deadlineHandle: number;

  constructor(
    private readonly parent: AbortSignal | RunStopper,
    private readonly deadlines: DeadlineList<OrderInFlight>,
    deadline: number,
  ) {
    this.deadlineHandle = deadlines.add(this, deadline);
    if (!(parent instanceof AbortSignal)) parent.follow(this);
    else if (parent.aborted) this.abort(parent.reason);
    else parent.addEventListener('abort', this, ONCE);
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
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    // Each taken off the list as it is told, none added any more: one that a listener told before it removes (a
    // computing step granted its turn meanwhile) is not told, as with an EventTarget's dispatch.
    for (let next = this.listener; next !== undefined; next = this.listener) {
      this.listener = this.moreListeners?.shift();
      try {
        next.call(this);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
    this.moreListeners = undefined;
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

  /** Its steps have all ended: its deadline and what it followed are let go (the compensations have their own). */
  release(): void {
    this.deadlines.remove(this.deadlineHandle);
    this.deadlineHandle = -1;
    if (this.parent instanceof AbortSignal) this.parent.removeEventListener('abort', this);
    else this.parent.follow(undefined);
  }
}
