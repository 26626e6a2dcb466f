/**
 * Which threads a turn's batches of steps go to by ring (src/threads/step-pool.ts, STEP_RING=on), in what order.
 *
 * As Piscina's balancer (placement.ts), the thread owing the least CPU first: a computing thread reads its ring only
 * between time slices. Then the steps are packed: the thread already running the most steps, as long as it runs fewer
 * than `PACKED_STEPS`; past that, the one running the fewest. Among equals, a thread awake before one asleep.
 *
 * Packed because the threads share the couriers. A slot freed on a thread whose own step is next in line is handed over
 * there and then; one whose next step is on another thread waits for that thread to wake and take it, and the courier
 * step's hold is that much longer: the rate of every courier-bound load is set by it. Packed, `overhead` on two
 * threads served 1.09× the orders a second, at 0.91× the p99 and 0.72× the CPU an order (wrk, against the rule before:
 * docs/measurements/2026-11-26-steps-packed-on-one-thread.md).
 * It also spares wake-ups: a write to an awake thread's ring costs nothing more, while waking a thread asleep costs the
 * two threads about 30 µs of CPU on this machine (docs/measurements/2026-11-24-hand-over-and-ring.md).
 *
 * The bound keeps what packing costs small: a thread's death takes every step on it (they run again elsewhere), and a
 * thread starved of CPU stays awake (rung, not yet run) while turns keep coming, so without one every order would pile
 * onto it. Past the bound the steps spread as before, and a burst spreads at once (`BATCHES_WORTH_A_WAKE`).
 */

/** Batches a turn must have per thread before one more thread asleep is woken to share them. */
export const BATCHES_WORTH_A_WAKE = 8;

/**
 * Steps a thread may run before the next is preferred. `overhead`'s 50 orders in flight hold about 57 (4,000 orders a
 * second, each with its steps out for 14 ms in all, most of it the courier's wait); `wide`'s 15,000 spread over every
 * thread.
 */
export const PACKED_STEPS = 128;

/** A thread that may take a ring task this turn. */
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

/** The candidates the turn's `batches` are spread over, best first (none if there are no batches). */
export function threadsForTurn<T extends RingCandidate>(candidates: readonly T[], batches: number): T[] {
  const sorted = [...candidates].sort(
    (a, b) => a.owedCpuMs - b.owedCpuMs || packingRank(a) - packingRank(b) || Number(b.awake) - Number(a.awake),
  );
  let used = Math.min(batches, sorted.length);
  while (used > 1 && !sorted[used - 1]!.awake && batches < used * BATCHES_WORTH_A_WAKE) used--;
  return sorted.slice(0, used);
}
