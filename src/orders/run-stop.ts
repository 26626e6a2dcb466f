/**
 * What stops a run from outside: every caller waiting for it gone, or the
 * process shutting down. A record, not an AbortController: the run's order
 * is its steps' signal (src/pipeline/order-in-flight.ts), and this tells
 * it — or, while the run waits on another instance's, the wait's
 * own. A stop that comes before either is kept, and told as each follows.
 */
import type { RunStopper, StopFollower } from '../pipeline/order-in-flight.js';

export class RunStop implements RunStopper {
  stopped = false;
  reason: unknown;
  private follower: StopFollower | undefined;

  stop(reason: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reason = reason;
    this.follower?.parentStopped(reason);
  }

  follow(follower: StopFollower | undefined): void {
    this.follower = follower;
    if (follower && this.stopped) follower.parentStopped(this.reason);
  }

  /** An AbortSignal that follows this stop until `release` (for an API that takes one: the records' waits). */
  signalUntilReleased(): { readonly signal: AbortSignal; release(): void } {
    const controller = new AbortController();
    this.follow({ parentStopped: (reason) => controller.abort(reason) });
    return { signal: controller.signal, release: () => this.follow(undefined) };
  }
}
