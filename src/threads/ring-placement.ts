/**
 * Which threads a turn's batches of steps go to by ring (src/threads/step-pool.ts, STEP_RING=on), in what order.
 *
 * As Piscina's balancer (placement.ts), the thread owing the least CPU first: a computing thread reads its ring only
 * between time slices. Then a thread awake before one asleep, unless it runs more than `AWAKE_LEAD` tasks beyond the
 * other's, then the one running the fewest tasks.
 *
 * Awake first because a write to an awake thread's ring costs nothing more, while waking a thread asleep costs the
 * two threads about 30 µs of CPU on this machine, half an order's steps' worth on their thread (measured:
 * docs/measurements/2026-11-24-hand-over-and-ring.md). So a thread asleep is woken only for enough batches to be
 * worth it: a turn of one order's batch goes to one thread, and wakes none if one is awake within its lead.
 *
 * The lead makes the order not quite transitive past two threads (an awake thread may rank before one asleep that
 * ranks before a third); any order the sort settles on is acceptable, since the rule only saves wake-ups.
 */

/** Batches a turn must have per thread before one more thread asleep is woken to share them. */
export const BATCHES_WORTH_A_WAKE = 8;

/**
 * How many more tasks than a thread asleep a thread awake may run and still be preferred. Past it the work is spread
 * again: a thread starved of CPU stays awake (rung, not yet run) while turns keep coming, and without a bound every
 * order of those turns would pile onto it, and a death of that thread would take all of them.
 */
export const AWAKE_LEAD = 4;

/** A thread that may take a ring task this turn. */
export interface RingCandidate {
  /** CPU work (ms) placed on it and not done. */
  readonly owedCpuMs: number;
  /** Whether it reads its ring before it next waits: a write to it wakes no one. */
  readonly awake: boolean;
  /** Ring tasks it runs now. */
  readonly ringTasks: number;
}

/** The candidates the turn's `batches` are spread over, best first (none if there are no batches). */
export function threadsForTurn<T extends RingCandidate>(candidates: readonly T[], batches: number): T[] {
  const awakeFirst = (a: RingCandidate, b: RingCandidate): number =>
    a.awake === b.awake || Math.abs(a.ringTasks - b.ringTasks) > AWAKE_LEAD ? 0 : Number(b.awake) - Number(a.awake);
  const sorted = [...candidates].sort(
    (a, b) => a.owedCpuMs - b.owedCpuMs || awakeFirst(a, b) || a.ringTasks - b.ringTasks,
  );
  let used = Math.min(batches, sorted.length);
  while (used > 1 && !sorted[used - 1]!.awake && batches < used * BATCHES_WORTH_A_WAKE) used--;
  return sorted.slice(0, used);
}
