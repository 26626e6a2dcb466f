/**
 * The threads: what is running now (the tracker, the orders in flight, the couriers, each live thread's steps and
 * busy share), read from shared memory at scrape time; the pool's summaries since start; the threads replaced.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

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

/** The pool's summaries are since start and move slowly: recomputed at most this often. */
const POOL_SUMMARY_MAX_AGE_MS = 5000;

const QUANTILES = [
  ['0.5', 'p50'],
  ['0.9', 'p90'],
  ['0.99', 'p99'],
] as const;

type PoolSummaries = Pick<PoolFigures, 'utilization' | 'runTime' | 'waitTime'>;

export class ThreadMetrics {
  private readonly replaced: Counter<'cause'>;
  private poolSummaries: (PoolSummaries & { readonly at: number }) | undefined;

  constructor(
    registers: Registry[],
    health: () => RunningState,
    private readonly pool: () => PoolFigures,
  ) {
    this.replaced = new Counter({
      name: 'worker_threads_replaced_total',
      help: 'Worker threads lost and replaced: terminated (a step ignored cancellation, or the thread was stuck) or died.',
      labelNames: ['cause'],
      registers,
    });
    this.registerRunning(registers, health);
    this.registerPool(registers);
  }

  threadReplaced(cause: 'terminated' | 'died'): void {
    this.replaced.inc({ cause });
  }

  private summaries(): PoolSummaries {
    const now = performance.now();
    if (!this.poolSummaries || now - this.poolSummaries.at >= POOL_SUMMARY_MAX_AGE_MS) {
      const { utilization, runTime, waitTime } = this.pool();
      this.poolSummaries = { at: now, utilization, runTime, waitTime };
    }
    return this.poolSummaries;
  }

  private registerRunning(registers: Registry[], health: () => RunningState): void {
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
  }

  private registerPool(registers: Registry[]): void {
    // prom-client calls each collector with its metric as `this`.
    const summaries = (): PoolSummaries => this.summaries();
    const pool = this.pool;
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
}
