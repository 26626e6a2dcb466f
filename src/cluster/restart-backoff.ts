/**
 * How long the primary waits before replacing an instance that exited:
 * at once after an instance that had served a while, then doubling for each
 * replacement that exits again soon (it could not start, or died young), up
 * to a cap — and never giving up. An instance that keeps failing to start
 * (Postgres unreachable) is retried every `maxMs` until it starts, and the
 * instances still running are left alone meanwhile: a replacement that
 * cannot start says nothing about them.
 */

export interface RestartBackoffOptions {
  /** The wait after the first early exit; each further early exit doubles it. */
  readonly firstMs: number;
  /** The wait never grows past this. */
  readonly maxMs: number;
  /** An instance that served at least this long before it exited starts the count afresh. */
  readonly stableMs: number;
}

export const DEFAULT_RESTART_BACKOFF: RestartBackoffOptions = { firstMs: 250, maxMs: 5000, stableMs: 10_000 };

export interface InstanceExit {
  /** Whether it was listening when it exited (it had started). */
  readonly listened: boolean;
  /** How long it ran, from its fork to its exit. */
  readonly livedMs: number;
}

export class RestartBackoff {
  /** Instances in a row that exited before serving `stableMs`. */
  private early = 0;

  constructor(private readonly options: RestartBackoffOptions = DEFAULT_RESTART_BACKOFF) {}

  /** An instance exited: how long to wait before starting its replacement. */
  next({ listened, livedMs }: InstanceExit): number {
    if (listened && livedMs >= this.options.stableMs) this.early = 0;
    const wait = this.early === 0 ? 0 : Math.min(this.options.maxMs, this.options.firstMs * 2 ** (this.early - 1));
    this.early++;
    return wait;
  }
}
