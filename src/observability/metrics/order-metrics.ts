/**
 * The orders as they are answered: by status and kind, how long they and their steps took, what was shed or admitted
 * at each tier, the compensations run, the answers that needed no run of their own, the steps' retries. Fed by the
 * HTTP layer as each order is answered (OrderObserver), not read at scrape time.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { TIERS, type Tier } from '../../domain/tier.js';
import type { AnsweredVia } from '../../orders/order-desk.js';
import type { StepOutcome } from '../../pipeline/steps.js';

/** An order as it was answered (or not: a client that went away counts with status 499). */
export interface AnsweredOrder {
  readonly status: number;
  /** 'ok', or the kind it failed with. */
  readonly kind: string;
  readonly durationMs: number;
  readonly steps: readonly StepOutcome[];
  readonly compensations: readonly StepOutcome[];
  /** How it was answered: run for this request, joined to a run under way, or replayed. */
  readonly via: AnsweredVia | undefined;
}

/** What the HTTP layer reports; a no-op when metrics are off. */
export interface OrderObserver {
  orderAnswered(order: AnsweredOrder): void;
  /** An order of `tier` was shed 503 overloaded before anything ran. */
  orderShed(tier: Tier): void;
  /** An order of `tier` was admitted: a run of it starts. */
  orderAdmitted(tier: Tier): void;
}

export const NO_OBSERVER: OrderObserver = { orderAnswered: () => {}, orderShed: () => {}, orderAdmitted: () => {} };

/** Per tier, bound once: an order's count is an increment, not a look-up of its labels. */
function byTier(counter: Counter<'tier'>): Record<Tier, Counter.Internal> {
  const children = {} as Record<Tier, Counter.Internal>;
  for (const tier of TIERS) {
    children[tier] = counter.labels(tier);
    // Each tier shown from the start, at 0: a rate over a series that appears with its first order misses it.
    children[tier].inc(0);
  }
  return children;
}

export class OrderMetrics implements OrderObserver {
  private readonly orders: Counter<'status' | 'kind'>;
  private readonly orderSeconds: Histogram<'status'>;
  private readonly stepSeconds: Histogram<'step' | 'status'>;
  private readonly shed: Counter;
  private readonly shedByTier: Readonly<Record<Tier, Counter.Internal>>;
  private readonly admittedByTier: Readonly<Record<Tier, Counter.Internal>>;
  private readonly compensations: Counter<'name' | 'status'>;
  private readonly deduplicated: Counter<'via'>;
  private readonly retries: Counter<'step'>;

  constructor(registers: Registry[]) {
    this.orders = new Counter({
      name: 'orders_total',
      help: 'Orders answered, by HTTP status and kind (ok, or the error kind; 499: the client went away).',
      labelNames: ['status', 'kind'],
      registers,
    });
    this.orderSeconds = new Histogram({
      name: 'order_duration_seconds',
      help: 'From the order arriving to its answer.',
      labelNames: ['status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5, 10],
      registers,
    });
    this.stepSeconds = new Histogram({
      name: 'order_step_duration_seconds',
      help: 'From a step being dispatched to its end, waiting for a thread or a courier included.',
      labelNames: ['step', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5],
      registers,
    });
    this.shed = new Counter({
      name: 'orders_shed_total',
      help: 'Orders turned away with 503 overloaded, before any step ran.',
      registers,
    });
    this.shedByTier = byTier(
      new Counter({
        name: 'tier_orders_shed_total',
        help: 'Orders turned away with 503 overloaded before any step ran, by the priority tier they came at (whatever was full: MAX_INFLIGHT, their tier’s ceiling, their client’s share, the records).',
        labelNames: ['tier'],
        registers,
      }),
    );
    this.admittedByTier = byTier(
      new Counter({
        name: 'tier_orders_admitted_total',
        help: 'Orders admitted (a run of them started), by the priority tier they came at.',
        labelNames: ['tier'],
        registers,
      }),
    );
    this.compensations = new Counter({
      name: 'order_compensations_total',
      help: 'Compensations run because their order failed (refunds of payments that went through), by outcome.',
      labelNames: ['name', 'status'],
      registers,
    });
    this.deduplicated = new Counter({
      name: 'orders_deduplicated_total',
      help: 'Orders answered without a run of their own: joined to the same order under way, or replayed from its record.',
      labelNames: ['via'],
      registers,
    });
    this.retries = new Counter({
      name: 'order_step_retries_total',
      help: 'Calls steps made again to their remote service after it answered unavailable (a partial outage), by step.',
      labelNames: ['step'],
      registers,
    });
  }

  orderAnswered({ status, kind, durationMs, steps, compensations, via }: AnsweredOrder): void {
    this.orders.inc({ status: String(status), kind });
    this.orderSeconds.observe({ status: String(status) }, durationMs / 1000);
    if (via === 'joined' || via === 'replayed') {
      // The steps were counted with the run that produced them.
      this.deduplicated.inc({ via });
      return;
    }
    for (const step of steps) {
      this.stepSeconds.observe({ step: step.name, status: step.status }, step.durationMs / 1000);
      if (step.retries) this.retries.inc({ step: step.name }, step.retries);
    }
    for (const compensation of compensations)
      this.compensations.inc({ name: compensation.name, status: compensation.status });
  }

  orderShed(tier: Tier): void {
    this.shed.inc();
    this.shedByTier[tier].inc();
  }

  orderAdmitted(tier: Tier): void {
    this.admittedByTier[tier].inc();
  }
}
