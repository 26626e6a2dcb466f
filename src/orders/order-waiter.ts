/**
 * Whoever waits for an order's answer — a request, in the HTTP service — as
 * the order desk sees it: whether it has gone, and a word when it goes.
 * The desk stops a run once all of its waiters have gone.
 *
 * Not an AbortSignal: a signal is an EventTarget with a listener map of its
 * own, and every request made one for the one listener the desk adds (issue
 * 32: the order's scope is the only AbortController of an order). A waiter
 * is listened to by one desk wait at a time.
 */
export class OrderWaiter {
  private left = false;
  private onLeaving: (() => void) | undefined;

  /** Whether the waiter has gone. */
  get gone(): boolean {
    return this.left;
  }

  /** Call `leave` when the waiter goes (at once, if it has); `undefined` stops that. */
  whenGone(leave: (() => void) | undefined): void {
    if (leave && this.left) return leave();
    this.onLeaving = leave;
  }

  /** The waiter has gone: told once, to whoever listens then. */
  leave(): void {
    if (this.left) return;
    this.left = true;
    const leaving = this.onLeaving;
    this.onLeaving = undefined;
    leaving?.();
  }
}
