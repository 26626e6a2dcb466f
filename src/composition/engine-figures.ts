/**
 * What the engine says of itself, read afresh each time it is asked: /healthz's engine part and the pool's
 * figures for the metrics, each reading every thread or summarizing a histogram only when read.
 */
import type { HealthReport } from '../http/wire/api-schemas.js';
import type { PoolFigures } from '../observability/metrics.js';
import type { ThreadView } from '../observability/thread-view.js';
import type { OrderPipeline } from '../pipeline/order-pipeline.js';
import type { CancelCellAllocator } from '../shared-memory/cancel-cells.js';
import { ELSEWHERE, type SlotSemaphore } from '../shared-memory/slot-semaphore.js';
import type { StepTracker } from '../shared-memory/step-tracker.js';
import type { DependencyBreakers } from '../resilience/dependency-breakers.js';
import { breakerJson } from '../http/routes/dependencies-route.js';
import type { Reclaimed } from '../threads/pooled-step-runner.js';
import type { StepPool } from '../threads/step-pool.js';

export type EngineHealth = Omit<HealthReport, 'fault_injection' | 'access' | 'durable'>;

export interface HealthSources {
  readonly tracker: StepTracker;
  readonly pool: StepPool<Reclaimed>;
  readonly cellAllocator: CancelCellAllocator;
  readonly couriers: SlotSemaphore;
  readonly pipeline: OrderPipeline;
  readonly threadView: ThreadView;
  readonly breakers: DependencyBreakers | undefined;
}

/** What /healthz says of the engine, read afresh. */
export function healthOf({
  tracker,
  pool,
  cellAllocator,
  couriers,
  pipeline,
  threadView,
  breakers,
}: HealthSources): EngineHealth {
  return {
    running_steps: tracker.running(),
    threads: pool.threadCount,
    queued: cellAllocator.countNotStarted(),
    // Slots lent to other instances (the durable mode) are held, but by no courier of ours.
    couriers_busy: couriers.busy() - couriers.heldBy(ELSEWHERE),
    couriers: couriers.size,
    orders_in_flight: pipeline.ordersInFlight,
    threads_replaced: pool.registry.replaced,
    per_thread: threadView.perThread(),
    ...(breakers
      ? {
          breakers: Object.fromEntries(
            breakers.readings().map((reading) => [reading.dependency, breakerJson(reading)]),
          ) as EngineHealth['breakers'],
        }
      : {}),
  };
}

/** Piscina's summary of a histogram, in milliseconds, once anything is recorded. */
function quantilesOf(
  summary: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number } | undefined,
) {
  // An empty histogram says 0 at every percentile: nothing recorded.
  return summary && summary.max > 0 ? { p50: summary.p50, p90: summary.p90, p99: summary.p99 } : undefined;
}

/** The pool's figures for the metrics: each of these reads every thread or summarizes a histogram, so only when read. */
export function poolFiguresOf(pool: StepPool<Reclaimed>): PoolFigures {
  return {
    completed: pool.completed,
    get utilization() {
      return pool.utilization;
    },
    get runTime() {
      return quantilesOf(pool.histogram.runTime);
    },
    get waitTime() {
      return quantilesOf(pool.histogram.waitTime);
    },
  };
}
