/**
 * Whoever waits for an order's answer — a request, in the HTTP service — as
 * the order desk sees it: whether it has gone, and a word when it goes.
 * The desk stops a run once all of its waiters have gone.
 *
 * Not an AbortSignal: a signal is an EventTarget with a listener map of its
 * own, and every request made one for the one listener the desk adds: an
 * order's run holds no AbortController. A waiter is listened to by one desk
 * wait at a time.
 */
/** Told when a waiter it listens to goes (the desk's run, which counts its callers). */
export interface WaiterListener {
  waiterLeft(): void;
}

export class OrderWaiter {
  private left = false;
  private onLeaving: WaiterListener | undefined;

  /** Whether the waiter has gone. */
  get gone(): boolean {
    return this.left;
  }

  /**
   * Tell `listener` when the waiter goes (at once, if it has); `undefined` stops that. A listener, not a callback: the
   * run it tells is already a record, and a closure per wait was one more object per order in flight.
   */
  whenGone(listener: WaiterListener | undefined): void {
    if (listener && this.left) return listener.waiterLeft();
    this.onLeaving = listener;
  }

  /** The waiter has gone: told once, to whoever listens then. */
  leave(): void {
    if (this.left) return;
    this.left = true;
    const leaving = this.onLeaving;
    this.onLeaving = undefined;
    leaving?.waiterLeft();
  }
}
