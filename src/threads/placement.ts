/**
 * Where a step task goes: Piscina's load balancer, replaced so that it knows
 * two things Piscina's least-busy one does not.
 *
 * - CPU owed. A thread computing for a step serves its other tasks only
 *   between time slices, so a task goes to the thread owing the least CPU
 *   work, and among equals to the one with the fewest tasks — its ring's
 *   batches counted with Piscina's tasks, or a computing step would land on
 *   the thread whose ring carries every other client's steps, Piscina seeing
 *   it idle. Two CPU-heavy steps thus land on two threads, and sleepers avoid
 *   a busy one.
 * - Doomed threads. A thread being terminated gets no new task.
 *
 * It also records on each task's placement the thread it was posted to: the
 * main thread needs that to terminate the right thread, and to know which
 * thread's death to wait for when a task comes back rejected.
 */
import { queueOptionsSymbol, type Piscina } from 'piscina';

type PiscinaOptions = NonNullable<ConstructorParameters<typeof Piscina>[0]>;
export type LoadBalancer = NonNullable<PiscinaOptions['loadBalancer']>;

/**
 * Attached to a task under Piscina's queue-options symbol: the balancer reads
 * it, and structured clone drops symbol keys, so it never reaches the worker.
 */
export interface TaskPlacement {
  readonly cpuMs: number;
  /** threadId the task was posted to; set by the balancer. */
  placedOn?: number;
  /** The placement of the batch the step travels in, which the balancer places instead. */
  batch?: TaskPlacement;
}

/** The thread a step was posted to, alone or in its batch; undefined while it waits for one. */
export function threadOf(placement: TaskPlacement): number | undefined {
  return placement.placedOn ?? placement.batch?.placedOn;
}

export function placementOf(task: Parameters<LoadBalancer>[0]): TaskPlacement | undefined {
  const options = task[queueOptionsSymbol];
  return options !== null && typeof options === 'object' && 'cpuMs' in options ? (options as TaskPlacement) : undefined;
}

export class Placement {
  /** CPU milliseconds of the tasks placed on each thread and not yet settled. */
  private readonly owedCpuMs = new Map<number, number>();

  constructor(
    private readonly maxTasksPerThread: number,
    /** False for a thread that must get no new task (it is being terminated or has died). */
    private readonly accepts: (threadId: number) => boolean,
    /** Tasks a thread runs that Piscina does not know of: batches of steps sent by its ring. */
    private readonly ringTasksOf: (threadId: number) => number = () => 0,
  ) {}

  readonly balancer: LoadBalancer = (task, workers) => {
    let best: (typeof workers)[number] | undefined;
    let bestOwed = Infinity;
    let bestUsage = Infinity;
    for (const worker of workers) {
      if (worker.terminating || worker.destroyed || !this.accepts(worker.id)) continue;
      if (worker.currentUsage >= this.maxTasksPerThread) continue;
      const usage = worker.currentUsage + this.ringTasksOf(worker.id);
      const owed = this.owedCpuMs.get(worker.id) ?? 0;
      if (owed < bestOwed || (owed === bestOwed && usage < bestUsage)) {
        best = worker;
        bestOwed = owed;
        bestUsage = usage;
      }
    }
    if (best === undefined) return null;
    const placement = placementOf(task);
    if (placement) {
      placement.placedOn = best.id;
      if (placement.cpuMs > 0) this.owedCpuMs.set(best.id, bestOwed + placement.cpuMs);
    }
    return best;
  };

  /** CPU milliseconds a thread owes the tasks placed on it. */
  owedBy(threadId: number): number {
    return this.owedCpuMs.get(threadId) ?? 0;
  }

  /** The task is over (reported or lost): its CPU is no longer owed. */
  settled(placement: TaskPlacement): void {
    if (placement.placedOn === undefined || placement.cpuMs === 0) return;
    const owed = (this.owedCpuMs.get(placement.placedOn) ?? 0) - placement.cpuMs;
    if (owed > 0) this.owedCpuMs.set(placement.placedOn, owed);
    else this.owedCpuMs.delete(placement.placedOn);
  }
}
