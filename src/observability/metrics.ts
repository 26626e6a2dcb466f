/**
 * Prometheus metrics (prom-client): what the orders did, read as they are
 * answered, and what is running, read from shared memory at scrape time.
 * Each worker thread would have a registry of its own, so nothing is
 * recorded inside the threads: every figure here comes from the main thread
 * or from the shared memory the threads write to.
 */
import { buildInfo } from '../version.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { TIERS, type Tier } from '../domain/tier.js';
import type { LedgerCounts } from '../ledger/payment-ledger.js';
import type { StepOutcome } from '../pipeline/steps.js';
import type { AnsweredVia } from '../orders/order-desk.js';
import type { ViewedClient } from './thread-frame.js';

/** What is running right now, read from shared memory at scrape time (the fields of /healthz). */
export interface RunningState {
  readonly running_steps: number;
  readonly queued: number;
  readonly orders_in_flight: number;
  readonly threads: number;
  readonly couriers_busy: number;
  readonly couriers: number;
  readonly per_thread: ReadonlyArray<{
    readonly thread_id: number;
    readonly steps: number;
    readonly utilization: number;
  }>;
}

/**
 * The worker pool's figures (src/threads/step-pool.ts). `utilization` reads
 * every thread, `runTime` and `waitTime` each summarize a histogram since
 * start, so they are read at most every POOL_SUMMARY_MAX_AGE_MS.
 */
export interface PoolFigures {
  readonly utilization: number;
  readonly completed: number;
  /** Milliseconds. */
  readonly runTime: Readonly<Record<'p50' | 'p90' | 'p99', number>> | undefined;
  readonly waitTime: Readonly<Record<'p50' | 'p90' | 'p99', number>> | undefined;
}

/** What the order records and the payment provider hold, read at scrape time. */
export interface MoneyFigures {
  /** Order records kept. */
  records(): number;
  ledger(): LedgerCounts;
  /** Charged − refunded over the runs that failed. */
  moneyAtRisk(): number;
  /** Voids of failed orders the main thread keeps asking the provider for, and its attempts that failed since start. */
  voids(): { readonly pending: number; readonly failedAttempts: number };
}

/** A dependency's circuit breaker, as the metrics read it. */
export interface BreakerFigure {
  readonly dependency: string;
  readonly state: BreakerStateName;
}

const BREAKER_STATES = ['closed', 'open', 'half_open'] as const;
type BreakerStateName = (typeof BREAKER_STATES)[number];

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

/**
 * Scrapes within this long of a collection get its exposition: any number
 * of scrapers at once cost one collection per period, not one each (a
 * collection takes the main thread milliseconds, and scrapers in a loop would
 * otherwise keep it busy and the orders waiting; see the README). Prometheus
 * scrapes every 15 s or so: a value 200 ms old is as good as a fresh one.
 */
const EXPOSITION_REUSE_MS = 200;
/** The pool's summaries are since start and move slowly: recomputed at most this often. */
const POOL_SUMMARY_MAX_AGE_MS = 5000;

/** Per client: what it holds of each scarce resource now (gauges). */
const CLIENT_GAUGES = [
  ['client_orders_in_flight', 'Orders in flight, per client.', 'orders_in_flight'],
  ['client_couriers_held', 'Courier slots held by steps of the client.', 'couriers_held'],
  ['client_couriers_waiting', "The client's steps waiting for a courier slot.", 'couriers_waiting'],
  ['client_cpu_steps_running', "The client's steps with cpu_ms on threads.", 'cpu_steps_running'],
  [
    'client_cpu_steps_waiting',
    "The client's steps with cpu_ms waiting on the main thread for its turn of thread time.",
    'cpu_steps_waiting',
  ],
  [
    'client_order_record_bytes',
    "What the order records keep of the client's orders, estimated, in bytes (absent where records are kept in Postgres).",
    'record_bytes',
  ],
] as const satisfies ReadonlyArray<readonly [string, string, keyof ViewedClient]>;

/**
 * The clients' figures (the bulkheads), labelled by client: gauges of what
 * each holds, counters of what each was refused. Clients beyond the courier
 * semaphore's table share one label, "(others)".
 */
function registerClientMetrics(registers: Registry[], clients: () => readonly ViewedClient[]): void {
  for (const [name, help, field] of CLIENT_GAUGES) {
    new Gauge({
      name,
      help,
      labelNames: ['client'],
      registers,
      collect() {
        this.reset();
        for (const row of clients()) {
          const value = row[field];
          if (value !== null) this.set({ client: row.client }, value);
        }
      },
    });
  }
  const shedSeen = new Map<string, number>();
  new Counter({
    name: 'client_orders_shed_total',
    help: "Orders shed 503 overloaded because their client's share was full — of the orders in flight, or of the order records' memory — while other clients shared the service.",
    labelNames: ['client', 'share'],
    registers,
    collect() {
      for (const row of clients()) {
        for (const [share, count] of [
          ['orders_in_flight', row.shed_orders_in_flight],
          ['records', row.shed_records],
        ] as const) {
          const key = `${share} ${row.client}`;
          this.inc({ client: row.client, share }, count - (shedSeen.get(key) ?? 0));
          shedSeen.set(key, count);
        }
      }
    },
  });
  const limitedSeen = new Map<string, number>();
  new Counter({
    name: 'client_orders_rate_limited_total',
    help: 'Orders refused 429 rate_limited: their client sent more than its CLIENT_RATE_LIMIT.',
    labelNames: ['client'],
    registers,
    collect() {
      for (const row of clients()) {
        this.inc({ client: row.client }, row.rate_limited - (limitedSeen.get(row.client) ?? 0));
        limitedSeen.set(row.client, row.rate_limited);
      }
    },
  });
}

const QUANTILES = [
  ['0.5', 'p50'],
  ['0.9', 'p90'],
  ['0.99', 'p99'],
] as const;

export class ServiceMetrics implements OrderObserver {
  readonly registry = new Registry();
  private readonly orders: Counter<'status' | 'kind'>;
  private readonly orderSeconds: Histogram<'status'>;
  private readonly stepSeconds: Histogram<'step' | 'status'>;
  private readonly shed: Counter;
  /** Per tier, bound once: an order's count is an increment, not a look-up of its labels. */
  private readonly shedByTier: Readonly<Record<Tier, Counter.Internal>>;
  private readonly admittedByTier: Readonly<Record<Tier, Counter.Internal>>;
  private readonly replaced: Counter<'cause'>;
  private readonly compensations: Counter<'name' | 'status'>;
  private readonly deduplicated: Counter<'via'>;
  private readonly retries: Counter<'step'>;
  private readonly breakerTransitions: Counter<'dependency' | 'to'>;
  private exposition: { readonly at: number; readonly body: Promise<string> } | undefined;
  private poolSummaries:
    (Pick<PoolFigures, 'utilization' | 'runTime' | 'waitTime'> & { readonly at: number }) | undefined;

  /**
   * `breakers`: each dependency's breaker, read at scrape time (none with
   * BREAKER_FAILURES=0); `clients`: what each client holds and was refused
   * (the bulkheads), read at scrape time; `logLinesDropped`: log lines stdout's reader did not take.
   */
  constructor(
    health: () => RunningState,
    pool: () => PoolFigures,
    money: MoneyFigures,
    breakers: () => readonly BreakerFigure[] = () => [],
    clients: () => readonly ViewedClient[] = () => [],
    logLinesDropped: () => number = () => 0,
  ) {
    const registers = [this.registry];
    const summaries = (): Pick<PoolFigures, 'utilization' | 'runTime' | 'waitTime'> => {
      const now = performance.now();
      if (!this.poolSummaries || now - this.poolSummaries.at >= POOL_SUMMARY_MAX_AGE_MS) {
        const { utilization, runTime, waitTime } = pool();
        this.poolSummaries = { at: now, utilization, runTime, waitTime };
      }
      return this.poolSummaries;
    };
    // The event loop's delay histogram samples every 100 ms, not prom-client's 10: a wake of an idle main thread costs
    // it tens of microseconds here, a hundred a second was an idle service's second largest cost, and what is watched
    // (nodejs_eventloop_lag_seconds, the runbook's and the dashboard's) is measured at each scrape, not by this.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
    const build = buildInfo();
    new Gauge({
      name: 'build_info',
      help: 'Always 1; its labels say what build runs: version, commit (empty when not known) and Node version.',
      labelNames: ['version', 'commit', 'node'],
      registers,
    }).set({ version: build.version, commit: build.commit ?? '', node: build.node }, 1);
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
    const byTier = (counter: Counter<'tier'>): Record<Tier, Counter.Internal> => {
      const children = {} as Record<Tier, Counter.Internal>;
      for (const tier of TIERS) {
        children[tier] = counter.labels(tier);
        // Each tier shown from the start, at 0: a rate over a series that appears with its first order misses it.
        children[tier].inc(0);
      }
      return children;
    };
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
    new Gauge({
      name: 'order_records',
      help: 'Orders the service keeps a record of (their final outcomes are replayed; GET /orders/{order_id} reads them).',
      registers,
      collect() {
        this.set(money.records());
      },
    });
    const ledgerSeen: Record<keyof LedgerCounts, number> = { charges: 0, declines: 0, refunds: 0, refusals: 0 };
    new Counter({
      name: 'payments_total',
      help: 'What the payment provider did: charged, declined (the test card), refunded, or refused to refund.',
      labelNames: ['outcome'],
      registers,
      collect() {
        const now = money.ledger();
        for (const [field, outcome] of [
          ['charges', 'charged'],
          ['declines', 'declined'],
          ['refunds', 'refunded'],
          ['refusals', 'refund_refused'],
        ] as const) {
          this.inc({ outcome }, now[field] - ledgerSeen[field]);
          ledgerSeen[field] = now[field];
        }
      },
    });
    new Gauge({
      name: 'money_at_risk',
      help: "Charged − refunded over the runs that failed, in the orders' unit: money a person must give back.",
      registers,
      collect() {
        this.set(money.moneyAtRisk());
      },
    });
    new Gauge({
      name: 'payment_voids_pending',
      help: "Voids of failed orders' payments the provider has not answered yet (it could not be reached): the main thread asks again, backing off, until it applies or refuses them.",
      registers,
      collect() {
        this.set(money.voids().pending);
      },
    });
    let voidFailuresSeen = 0;
    new Counter({
      name: 'payment_void_attempts_failed_total',
      help: 'Attempts of the main thread to void a failed order’s payment that found the provider unreachable (each is tried again).',
      registers,
      collect() {
        const now = money.voids().failedAttempts;
        this.inc(now - voidFailuresSeen);
        voidFailuresSeen = now;
      },
    });
    this.retries = new Counter({
      name: 'order_step_retries_total',
      help: 'Calls steps made again to their remote service after it answered unavailable (a partial outage), by step.',
      labelNames: ['step'],
      registers,
    });
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
    this.breakerTransitions = new Counter({
      name: 'dependency_breaker_transitions_total',
      help: "Changes of each dependency's circuit breaker, by the state it moved to (open → half_open is counted when first noticed: at the next order, scrape or read).",
      labelNames: ['dependency', 'to'],
      registers,
    });
    registerClientMetrics(registers, clients);
    let logLinesSeen = 0;
    new Counter({
      name: 'log_lines_dropped_total',
      help: "Log lines not written because stdout's reader had gone or was not reading (the pipe full): never waited for.",
      registers,
      collect() {
        const now = logLinesDropped();
        this.inc(now - logLinesSeen);
        logLinesSeen = now;
      },
    });
    this.replaced = new Counter({
      name: 'worker_threads_replaced_total',
      help: 'Worker threads lost and replaced: terminated (a step ignored cancellation, or the thread was stuck) or died.',
      labelNames: ['cause'],
      registers,
    });

    const gauge = (name: string, help: string, read: (state: RunningState) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(health()));
        },
      });
    };
    gauge(
      'order_steps_running',
      'Steps running inside worker threads (the cross-thread tracker).',
      (h) => h.running_steps,
    );
    gauge('order_steps_queued', 'Steps dispatched but not yet started on a thread.', (h) => h.queued);
    gauge('orders_in_flight', 'Orders being processed.', (h) => h.orders_in_flight);
    gauge('worker_threads', 'Live worker threads.', (h) => h.threads);
    gauge('couriers_busy', 'Courier slots held.', (h) => h.couriers_busy);
    gauge('couriers', 'Courier slots in the pool.', (h) => h.couriers);
    for (const [name, help, field] of [
      ['worker_thread_steps', 'Steps running on each live worker thread (its share of the tracker).', 'steps'],
      [
        'worker_thread_utilization',
        "Share of time each live worker thread's event loop was busy, over the last half second or more (0..1).",
        'utilization',
      ],
    ] as const) {
      new Gauge({
        name,
        help,
        labelNames: ['thread_id'],
        registers,
        collect() {
          // Threads come and go: only the live ones are reported.
          this.reset();
          for (const thread of health().per_thread) this.set({ thread_id: String(thread.thread_id) }, thread[field]);
        },
      });
    }

    new Gauge({
      name: 'worker_pool_utilization',
      help: "The worker threads' busy share since each started, on average: their event loops' utilization (0..1).",
      registers,
      collect() {
        this.set(summaries().utilization);
      },
    });
    let completedSeen = 0;
    new Counter({
      name: 'worker_pool_tasks_completed_total',
      help: 'Tasks the worker pool has completed.',
      registers,
      collect() {
        const completed = pool().completed;
        this.inc(Math.max(0, completed - completedSeen));
        completedSeen = completed;
      },
    });
    for (const [metric, field, help] of [
      [
        'worker_pool_task_run_milliseconds',
        'runTime',
        "How long the pool's tasks (what one turn writes to one thread) ran on it, since start.",
      ],
      ['worker_pool_task_wait_milliseconds', 'waitTime', "How long the pool's tasks waited for a thread, since start."],
    ] as const) {
      new Gauge({
        name: metric,
        help,
        labelNames: ['quantile'],
        registers,
        collect() {
          const summary = summaries()[field];
          if (!summary) return;
          for (const [quantile, key] of QUANTILES) this.set({ quantile }, summary[key]);
        },
      });
    }
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

  breakerMoved(dependency: string, to: BreakerStateName): void {
    this.breakerTransitions.inc({ dependency, to });
  }

  threadReplaced(cause: 'terminated' | 'died'): void {
    this.replaced.inc({ cause });
  }

  /** The exposition, in Prometheus text format: collected afresh at most every EXPOSITION_REUSE_MS. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    const now = performance.now();
    if (!this.exposition || now - this.exposition.at >= EXPOSITION_REUSE_MS) {
      const body = this.registry.metrics();
      this.exposition = { at: now, body };
      // A failed collection is not served again.
      body.catch(() => {
        if (this.exposition?.body === body) this.exposition = undefined;
      });
    }
    return { contentType: this.registry.contentType, body: await this.exposition.body };
  }
}
