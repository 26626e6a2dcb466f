/**
 * The dependencies' circuit breakers: the state each is in, read at scrape time, and each change as it happens.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

const BREAKER_STATES = ['closed', 'open', 'half_open'] as const;
export type BreakerStateName = (typeof BREAKER_STATES)[number];

/** A dependency's circuit breaker, as the metrics read it. */
export interface BreakerFigure {
  readonly dependency: string;
  readonly state: BreakerStateName;
}

export class DependencyMetrics {
  private readonly transitions: Counter<'dependency' | 'to'>;

  /** `breakers`: each dependency's breaker, read at scrape time (none with BREAKER_FAILURES=0). */
  constructor(registers: Registry[], breakers: () => readonly BreakerFigure[]) {
    new Gauge({
      name: 'dependency_breaker_state',
      help: "Each dependency's circuit breaker: 1 for the state it is in (closed, open, half_open), 0 for the others.",
      labelNames: ['dependency', 'state'],
      registers,
      collect() {
        for (const { dependency, state } of breakers())
          for (const each of BREAKER_STATES) this.set({ dependency, state: each }, each === state ? 1 : 0);
      },
    });
    this.transitions = new Counter({
      name: 'dependency_breaker_transitions_total',
      help: "Changes of each dependency's circuit breaker, by the state it moved to (open → half_open is counted when first noticed: at the next order, scrape or read).",
      labelNames: ['dependency', 'to'],
      registers,
    });
  }

  breakerMoved(dependency: string, to: BreakerStateName): void {
    this.transitions.inc({ dependency, to });
  }
}
