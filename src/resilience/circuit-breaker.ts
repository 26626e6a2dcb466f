/**
 * A circuit breaker: a small state machine, decided on the main thread.
 *
 * - closed: everything passes; `failures` consecutive failures open it (a
 *   success in between starts the count again) — but only if they came from
 *   at least two clients, or from the only client that has called the
 *   dependency lately (`recentMs`). One client's failures alone never open it
 *   for other clients that are using it: they are that client's, until another
 *   client's calls fail too (docs/clients-and-money.md, "Dependencies");
 * - open: nothing passes, for `openMs`; then it is half-open — worked out
 *   from the clock whenever it is asked, so its state and "open until" are
 *   true when read, not when the next call happens to come;
 * - half-open: each client may have one pass out, its probe; anything else is
 *   refused at once. The first probe to succeed closes it, the first to fail
 *   opens it again; a probe that ends with nothing to say (its order failed
 *   elsewhere first, or ran nothing) gives that client's probe back. Probes
 *   per client, not one for everyone: a client whose orders hold the probe and
 *   end it without a verdict would otherwise keep the breaker from closing for
 *   everyone; here another client's probe runs beside it, so the breaker
 *   closes within `openMs` and one probe's time once the dependency is back,
 *   whatever one client sends. Clients are as many as there are keys, so the
 *   dependency sees at most that many probes at once.
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
  /** Whose call it is (the client's name). */
  readonly client: string;
}

export type BreakerVerdict = { readonly pass: BreakerPass } | { readonly refusedForMs: number };

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker (at least 1). */
  readonly failures: number;
  /** How long it stays open before letting a probe through. */
  readonly openMs: number;
  /**
   * How long a client counts as using the dependency after its last call: while another does, one client's failures
   * alone do not open the breaker (10 s by default).
   */
  readonly recentMs?: number;
  /** The clock, in milliseconds (performance.now by default; tests pass their own). */
  readonly now?: () => number;
  /** Told of every change of state, as it happens or, for open → half-open, when first noticed. */
  readonly onTransition?: (from: BreakerState, to: BreakerState) => void;
}

/** How long a client counts as using a dependency after its last call, unless told otherwise. */
const RECENT_MS = 10_000;

export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private consecutiveFailures = 0;
  /** The clients whose calls failed in the current run of failures. */
  private readonly failingClients = new Set<string>();
  /** When each client was last let through, on `now`'s clock. */
  private readonly lastCall = new Map<string, number>();
  /** Clients with a probe out (half-open). */
  private readonly probes = new Set<string>();
  /** When an open breaker turns half-open, on `now`'s clock. */
  private openUntil = 0;
  /** Bumped each time the breaker opens. */
  private epoch = 0;
  /**
   * Each client's verdict while closed, in this epoch: the same for every call it makes, so none is made per call
   * (three breakers, two objects each, for every order).
   */
  private readonly closedVerdicts = new Map<string, { readonly pass: BreakerPass }>();
  private readonly now: () => number;
  private readonly recentMs: number;

  constructor(private readonly options: CircuitBreakerOptions) {
    if (!Number.isInteger(options.failures) || options.failures < 1)
      throw new RangeError(`a breaker opens after at least 1 failure, got ${options.failures}`);
    if (!(options.openMs > 0)) throw new RangeError(`a breaker stays open a positive time, got ${options.openMs}`);
    this.now = options.now ?? (() => performance.now());
    this.recentMs = options.recentMs ?? RECENT_MS;
  }

  /**
   * Whether `client`'s call may go now. A pass must be settled; in half-open
   * it is the client's probe, and the client's other calls are refused until
   * it settles.
   */
  admit(client: string): BreakerVerdict {
    const now = this.advance();
    switch (this.state) {
      case 'closed': {
        this.lastCall.set(client, now);
        let verdict = this.closedVerdicts.get(client);
        if (verdict === undefined)
          this.closedVerdicts.set(client, (verdict = { pass: { epoch: this.epoch, probe: false, client } }));
        return verdict;
      }
      case 'open':
        return { refusedForMs: this.openUntil - now };
      case 'half_open':
        if (this.probes.has(client)) return { refusedForMs: 0 };
        this.probes.add(client);
        this.lastCall.set(client, now);
        return { pass: { epoch: this.epoch, probe: true, client } };
    }
  }

  /** The outcome of a call `admit` let through. */
  settle(pass: BreakerPass, verdict: CallVerdict): void {
    this.advance();
    if (pass.epoch !== this.epoch) return;
    if (pass.probe && this.state === 'half_open') {
      this.probes.delete(pass.client);
      if (verdict === 'success') this.close();
      else if (verdict === 'failure') this.open();
      return;
    }
    // A probe that settles once another has closed the breaker counts as any call made while closed.
    if (this.state !== 'closed' || verdict === 'none') return;
    if (verdict === 'success') {
      this.consecutiveFailures = 0;
      // clear() makes a new table even for an empty set: three an order, each kept past a scavenge by the breaker.
      if (this.failingClients.size > 0) this.failingClients.clear();
      return;
    }
    this.consecutiveFailures++;
    this.failingClients.add(pass.client);
    if (this.consecutiveFailures >= this.options.failures && this.failuresSpeakForEveryone()) this.open();
  }

  /**
   * Whether the run of failures says the dependency is down for everyone, not only for one client: they came from two
   * clients or more, or from the only client calling it lately.
   */
  private failuresSpeakForEveryone(): boolean {
    if (this.failingClients.size >= 2) return true;
    const since = this.now() - this.recentMs;
    for (const [client, at] of this.lastCall) {
      if (at < since) this.lastCall.delete(client);
      else if (!this.failingClients.has(client)) return false;
    }
    return true;
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
    this.closedVerdicts.clear();
    this.probes.clear();
    this.failingClients.clear();
    this.openUntil = this.now() + this.options.openMs;
    this.move('open');
  }

  private close(): void {
    this.consecutiveFailures = 0;
    this.failingClients.clear();
    this.probes.clear();
    this.move('closed');
  }

  private move(to: BreakerState): void {
    const from = this.state;
    this.state = to;
    this.options.onTransition?.(from, to);
  }
}
