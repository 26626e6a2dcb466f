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

/**
 * A labeled metric's children by two labels, each bound the first time its labels are met and kept: an order's figure
 * is its child's, found by two Map look-ups of values it has, not by a labels object built, checked and hashed for it.
 * (prom-client 15's child still hashes its labels on each call, once: what goes is the rest.) Binding on first use, not
 * at start, keeps a series out of the exposition until it has a value, as before.
 */
class Children<A, B, C> {
  private readonly bound = new Map<A, Map<B, C>>();

  constructor(private readonly bind: (a: A, b: B) => C) {}

  of(a: A, b: B): C {
    let byB = this.bound.get(a);
    if (!byB) this.bound.set(a, (byB = new Map<B, C>()));
    let child = byB.get(b);
    if (!child) byB.set(b, (child = this.bind(a, b)));
    return child;
  }
}

type CounterChild = ReturnType<Counter['labels']>;
type HistogramChild = ReturnType<Histogram['labels']>;

export class OrderMetrics implements OrderObserver {
  private readonly orders: Children<number, string, CounterChild>;
  private readonly orderSeconds: Children<number, undefined, HistogramChild>;
  private readonly stepSeconds: Children<string, string, HistogramChild>;
  private readonly shed: Counter;
  private readonly shedByTier: Readonly<Record<Tier, Counter.Internal>>;
  private readonly admittedByTier: Readonly<Record<Tier, Counter.Internal>>;
  private readonly compensations: Children<string, string, CounterChild>;
  private readonly deduplicated: Children<string, undefined, CounterChild>;
  private readonly retries: Children<string, undefined, CounterChild>;

  constructor(registers: Registry[]) {
    const orders = new Counter({
      name: 'orders_total',
      help: 'Orders answered, by HTTP status and kind (ok, or the error kind; 499: the client went away).',
      labelNames: ['status', 'kind'],
      registers,
    });
    this.orders = new Children((status, kind) => orders.labels(String(status), kind));
    const orderSeconds = new Histogram({
      name: 'order_duration_seconds',
      help: 'From the order arriving to its answer.',
      labelNames: ['status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5, 10],
      registers,
    });
    this.orderSeconds = new Children((status: number) => orderSeconds.labels(String(status)));
    const stepSeconds = new Histogram({
      name: 'order_step_duration_seconds',
      help: 'From a step being dispatched to its end, waiting for a thread or a courier included.',
      labelNames: ['step', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5],
      registers,
    });
    this.stepSeconds = new Children((step, status) => stepSeconds.labels(step, status));
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
    const compensations = new Counter({
      name: 'order_compensations_total',
      help: 'Compensations run because their order failed (refunds of payments that went through), by outcome.',
      labelNames: ['name', 'status'],
      registers,
    });
    this.compensations = new Children((name, status) => compensations.labels(name, status));
    const deduplicated = new Counter({
      name: 'orders_deduplicated_total',
      help: 'Orders answered without a run of their own: joined to the same order under way, or replayed from its record.',
      labelNames: ['via'],
      registers,
    });
    this.deduplicated = new Children((via: string) => deduplicated.labels(via));
    const retries = new Counter({
      name: 'order_step_retries_total',
      help: 'Calls steps made again to their remote service after it answered unavailable (a partial outage), by step.',
      labelNames: ['step'],
      registers,
    });
    this.retries = new Children((step: string) => retries.labels(step));
  }

  orderAnswered({ status, kind, durationMs, steps, compensations, via }: AnsweredOrder): void {
    this.orders.of(status, kind).inc();
    this.orderSeconds.of(status, undefined).observe(durationMs / 1000);
    if (via === 'joined' || via === 'replayed') {
      // The steps were counted with the run that produced them.
      this.deduplicated.of(via, undefined).inc();
      return;
    }
    for (const step of steps) {
      this.stepSeconds.of(step.name, step.status).observe(step.durationMs / 1000);
      if (step.retries) this.retries.of(step.name, undefined).inc(step.retries);
    }
    for (const compensation of compensations) this.compensations.of(compensation.name, compensation.status).inc();
  }

  orderShed(tier: Tier): void {
    this.shed.inc();
    this.shedByTier[tier].inc();
  }

  orderAdmitted(tier: Tier): void {
    this.admittedByTier[tier].inc();
  }
}
