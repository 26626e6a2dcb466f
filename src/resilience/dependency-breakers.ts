/**
 * A circuit breaker per dependency, and what they say of a new order. An
 * order needs every dependency (its steps run at once), so it starts only if
 * every breaker lets it through; one that does not turns it away at once,
 * before anything starts, with that dependency's kind and how long until it
 * may let an order through again.
 *
 * What counts is what each step's outcome says of its dependency
 * (DependencyVerdict): `failed` — an unavailable answer, or the step cut by
 * its order's deadline while it waited out the dependency — is a failure;
 * `answered` is a success, a declined payment included; anything else says
 * nothing: a step the order told to fail, a fault, its own delay_ms running
 * past the deadline, a step canceled because another failed. So no client
 * can open a breaker for everyone by asking for failures. A step cut while
 * it waited out the dependency's latency counts only when the dependency
 * caused at least as much of the step's wait as the order's own delay_ms did
 * (workers/dependency-call.ts); and one client's failures alone open no
 * breaker while other clients use the dependency (circuit-breaker.ts).
 */
import { DEPENDENCIES, type Dependency, type DependencyName } from '../domain/dependencies.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';
import type { StepOutcome } from '../pipeline/steps.js';
import {
  CircuitBreaker,
  type BreakerPass,
  type BreakerReading,
  type BreakerState,
  type CallVerdict,
} from './circuit-breaker.js';

export interface DependencyBreakersOptions {
  /** Consecutive failures that open a breaker. */
  readonly failures: number;
  readonly openMs: number;
  readonly now?: () => number;
  readonly onTransition?: (dependency: DependencyName, from: BreakerState, to: BreakerState) => void;
}

/** An order let through: `ended` is told its result once its run is over (undefined: it ran nothing here). */
export interface LetThrough {
  readonly admitted: true;
  ended(result: OrderResult | undefined): void;
}

type Breakers = ReadonlyArray<{ readonly dependency: Dependency; readonly breaker: CircuitBreaker }>;

/** An order let through, holding its passes until its run ends: a record, not a closure. */
class Passed implements LetThrough {
  readonly admitted = true;

  constructor(
    private readonly breakers: Breakers,
    private readonly passes: ReadonlyArray<BreakerPass | undefined>,
  ) {}

  ended(result: OrderResult | undefined): void {
    settle(this.breakers, this.passes, result);
  }
}

/** Each pass given back to its breaker, with what the run's outcome says of the breaker's dependency. */
function settle(
  breakers: Breakers,
  passes: ReadonlyArray<BreakerPass | undefined>,
  result: OrderResult | undefined,
): void {
  for (let i = 0; i < breakers.length; i++) {
    const pass = passes[i];
    if (!pass) continue;
    const { dependency, breaker } = breakers[i]!;
    breaker.settle(pass, verdictOf(result?.steps.find((outcome) => outcome.name === dependency.step)));
  }
}

/** An order turned away: a dependency it needs is known to be down. */
export interface TurnedAway {
  /** The dependency's kind (payment_unavailable, vendor_unavailable, no_courier). */
  readonly unavailable: Dependency['unavailable'];
  /** Who, for people. */
  readonly dependency: string;
  /** Until the breakers that turned it away may let an order through (0: a probe is under way). */
  readonly retryAfterMs: number;
}

export interface DependencyBreakerReading extends BreakerReading {
  readonly dependency: DependencyName;
}

/** What an outcome says of its step's dependency. */
export function verdictOf(outcome: StepOutcome | undefined): CallVerdict {
  if (outcome?.dependency === 'failed') return 'failure';
  return outcome?.dependency === 'answered' ? 'success' : 'none';
}

export class DependencyBreakers {
  private readonly breakers: Breakers;

  constructor({ failures, openMs, now, onTransition }: DependencyBreakersOptions) {
    this.breakers = DEPENDENCIES.map((dependency) => ({
      dependency,
      breaker: new CircuitBreaker({
        failures,
        openMs,
        ...(now ? { now } : {}),
        ...(onTransition ? { onTransition: (from, to) => onTransition(dependency.name, from, to) } : {}),
      }),
    }));
  }

  /** Whether `client`'s new order may start now. Every breaker is asked, so that the wait said is the longest. */
  admit(client: string): LetThrough | TurnedAway {
    // By breaker; none for a breaker that refused. Made at its length: an order in flight keeps it, and an array grown
    // by push keeps room for 17.
    const passes = new Array<BreakerPass | undefined>(this.breakers.length);
    let refused: Dependency | undefined;
    let retryAfterMs = 0;
    for (let i = 0; i < this.breakers.length; i++) {
      const { dependency, breaker } = this.breakers[i]!;
      const verdict = breaker.admit(client);
      if ('pass' in verdict) {
        passes[i] = verdict.pass;
        continue;
      }
      refused ??= dependency;
      retryAfterMs = Math.max(retryAfterMs, verdict.refusedForMs);
    }
    if (refused === undefined) return new Passed(this.breakers, passes);
    // Not starting after all: a probe taken from another breaker goes back.
    settle(this.breakers, passes, undefined);
    return { unavailable: refused.unavailable, dependency: refused.title, retryAfterMs };
  }

  readings(): DependencyBreakerReading[] {
    return this.breakers.map(({ dependency, breaker }) => ({ dependency: dependency.name, ...breaker.reading() }));
  }
}
