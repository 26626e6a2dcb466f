/**
 * A circuit breaker: a small state machine, decided on the main thread.
 *
 * - closed: everything passes; `failures` consecutive failures open it (a
 *   success in between starts the count again);
 * - open: nothing passes, for `openMs`; then it is half-open — worked out
 *   from the clock whenever it is asked, so its state and "open until" are
 *   true when read, not when the next call happens to come;
 * - half-open: exactly one pass, the probe, goes through; anything else is
 *   refused at once. The probe's success closes it, its failure opens it
 *   again; a probe that ends with nothing to say (its order failed elsewhere
 *   first, or ran nothing) gives the probe back to the next caller.
 *
 * Outcomes are counted by epoch: a pass given before the breaker last opened
 * says nothing about the service now (orders still under way when it opened
 * end with their failures after it), so its outcome is not counted.
 *
 * Why not cockatiel's CircuitBreakerPolicy: it decides inside execute(fn),
 * around one wrapped call, while here every dependency's breaker is asked at
 * once before any step starts, and there is no call to wrap (the calls are
 * made on worker threads); its half-open callers beyond the probe wait on a
 * promise, where here they are refused at once; it turns open to half-open
 * only on the next execute() call, so nobody could say honestly until when it
 * is open; and it counts failures by an error filter on the wrapped call,
 * while here a failure is what a step's outcome says came from its
 * dependency — never a business answer, nor anything the order asked for.
 */

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerReading {
  readonly state: BreakerState;
  /** Failures in a row counted while closed (the one that opened it included, until it closes). */
  readonly consecutiveFailures: number;
  /** While open: milliseconds until it turns half-open; 0 otherwise. */
  readonly openForMs: number;
}

/** What became of a call that went through, as far as its dependency is concerned. */
export type CallVerdict =
  | 'success' // the dependency answered (a business "no" is an answer)
  | 'failure' // the dependency failed it: did not answer, or too late
  | 'none'; // nothing to say of the dependency: the call never got to it, or ended for another reason

/** A call let through; settle it once its outcome is known. */
export interface BreakerPass {
  readonly epoch: number;
  readonly probe: boolean;
}

export type BreakerVerdict = { readonly pass: BreakerPass } | { readonly refusedForMs: number };

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker (at least 1). */
  readonly failures: number;
  /** How long it stays open before letting a probe through. */
  readonly openMs: number;
  /** The clock, in milliseconds (performance.now by default; tests pass their own). */
  readonly now?: () => number;
  /** Told of every change of state, as it happens or, for open → half-open, when first noticed. */
  readonly onTransition?: (from: BreakerState, to: BreakerState) => void;
}

export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private consecutiveFailures = 0;
  /** When an open breaker turns half-open, on `now`'s clock. */
  private openUntil = 0;
  /** Bumped each time the breaker opens. */
  private epoch = 0;
  private probeOut = false;
  /** The verdict of every admission while closed, made once per epoch: admitting costs the order path nothing. */
  private closedVerdict: BreakerVerdict = { pass: { epoch: 0, probe: false } };
  private readonly now: () => number;

  constructor(private readonly options: CircuitBreakerOptions) {
    if (!Number.isInteger(options.failures) || options.failures < 1)
      throw new RangeError(`a breaker opens after at least 1 failure, got ${options.failures}`);
    if (!(options.openMs > 0)) throw new RangeError(`a breaker stays open a positive time, got ${options.openMs}`);
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * Whether a call may go now. A pass must be settled; in half-open it is
   * the probe, and every other caller is refused until the probe settles.
   */
  admit(): BreakerVerdict {
    const now = this.advance();
    switch (this.state) {
      case 'closed':
        return this.closedVerdict;
      case 'open':
        return { refusedForMs: this.openUntil - now };
      case 'half_open':
        if (this.probeOut) return { refusedForMs: 0 };
        this.probeOut = true;
        return { pass: { epoch: this.epoch, probe: true } };
    }
  }

  /** The outcome of a call `admit` let through. */
  settle(pass: BreakerPass, verdict: CallVerdict): void {
    this.advance();
    if (pass.epoch !== this.epoch) return;
    if (pass.probe) {
      this.probeOut = false;
      if (verdict === 'success') this.close();
      else if (verdict === 'failure') this.open();
      return;
    }
    if (this.state !== 'closed' || verdict === 'none') return;
    if (verdict === 'success') this.consecutiveFailures = 0;
    else if (++this.consecutiveFailures >= this.options.failures) this.open();
  }

  reading(): BreakerReading {
    const now = this.advance();
    return {
      state: this.state,
      consecutiveFailures: this.consecutiveFailures,
      openForMs: this.state === 'open' ? this.openUntil - now : 0,
    };
  }

  /** Turn open into half-open once its time is up; the current time. */
  private advance(): number {
    const now = this.now();
    if (this.state === 'open' && now >= this.openUntil) this.move('half_open');
    return now;
  }

  private open(): void {
    this.epoch++;
    this.closedVerdict = { pass: { epoch: this.epoch, probe: false } };
    this.openUntil = this.now() + this.options.openMs;
    this.move('open');
  }

  private close(): void {
    this.consecutiveFailures = 0;
    this.move('closed');
  }

  private move(to: BreakerState): void {
    const from = this.state;
    this.state = to;
    this.options.onTransition?.(from, to);
  }
}
