/**
 * Where steps go: the pool's one balancer (src/threads/step-pool.ts). Piscina never sees a step — every batch travels
 * by a thread's ring — so which thread takes which is ours to say. Candidates are the threads that keep up with their
 * ring (ring-thread.ts). The thread owing the least CPU first: a computing thread reads its ring only between time
 * slices, so two CPU-heavy steps land on two threads and sleepers avoid a busy one; a computing step goes alone, to the
 * one owing the least, the fewest steps among equals. The other steps are packed: the thread already running the most
 * steps, while it runs fewer than PACKED_STEPS, past that the one running the fewest; among equals, one awake.
 *
 * Packed because the threads share the couriers: a slot freed on a thread whose own step is next in line is handed over
 * there and then, while one whose next step is on another thread waits for that thread to wake and take it, and the
 * courier step's hold is that much longer. It also spares wake-ups: a write to an awake thread's ring costs nothing
 * more. The bound keeps what packing costs small: a thread's death takes every step on it, and a thread starved of CPU
 * stays awake (rung, not yet run) while turns keep coming.
 */

/** Batches a turn must have per thread before one more thread asleep is woken to share them. */
export const BATCHES_WORTH_A_WAKE = 8;

/**
 * Steps a thread may run before the next is preferred. `overhead`'s 50 orders in flight hold about 57 (4,000 orders a
 * second, each with its steps out for 14 ms in all, most of it the courier's wait); `wide`'s 15,000 spread over every
 * thread.
 */
export const PACKED_STEPS = 128;

/**
 * How long a batch may lie unread in a thread's ring before the thread counts as not reading it, and gets no new work.
 * A thread that keeps up reads within its turn; this leaves room for a long turn of its own and for a busy machine's
 * scheduler (20 ms was too little beside four other test files: a batch went to another thread than the steps it was
 * packed with).
 */
export const STALLED_AFTER_MS = 100;

/**
 * How long before what a thread left unread is taken back for a thread that keeps up: what a batch given to a thread
 * that then hangs waits before it goes to another. Longer than STALLED_AFTER_MS: on a machine so busy that each thread
 * in turn goes unscheduled for a tenth of a second, batches moved at every such stall went back and forth between the
 * threads, later each time.
 */
export const TAKEN_BACK_AFTER_MS = 500;

/**
 * Where a step is, as the pool placed it: the CPU work it owes its thread, and the thread it was written to. Read by
 * whoever must know which thread runs a step (to judge or terminate it, to show it).
 */
export interface TaskPlacement {
  readonly cpuMs: number;
  /** threadId of the thread whose ring the step was written to; undefined while it waits for one. */
  placedOn?: number;
}

/** A thread that may take a batch this turn. */
export interface RingCandidate {
  /** CPU work (ms) placed on it and not done. */
  readonly owedCpuMs: number;
  /** Whether it reads its ring before it next waits: a write to it wakes no one. */
  readonly awake: boolean;
  /** Steps of ring tasks it runs now. */
  readonly ringSteps: number;
}

/** Where a candidate ranks among threads owing the same CPU: with room to pack, the fullest first; without, the emptiest. */
const packingRank = ({ ringSteps }: RingCandidate): number => (ringSteps < PACKED_STEPS ? -ringSteps : ringSteps);

/** The candidates the turn's `batches` (of steps that do no CPU work) are spread over, best first (none if none). */
export function threadsForTurn<T extends RingCandidate>(candidates: readonly T[], batches: number): T[] {
  const sorted = [...candidates].sort(
    (a, b) => a.owedCpuMs - b.owedCpuMs || packingRank(a) - packingRank(b) || Number(b.awake) - Number(a.awake),
  );
  let used = Math.min(batches, sorted.length);
  while (used > 1 && !sorted[used - 1]!.awake && batches < used * BATCHES_WORTH_A_WAKE) used--;
  return sorted.slice(0, used);
}

/** The candidate for a computing step: the one owing the least CPU, the fewest steps among equals. */
export function threadForComputing<T extends RingCandidate>(candidates: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const candidate of candidates) {
    if (
      best === undefined ||
      candidate.owedCpuMs < best.owedCpuMs ||
      (candidate.owedCpuMs === best.owedCpuMs && candidate.ringSteps < best.ringSteps)
    )
      best = candidate;
  }
  return best;
}
