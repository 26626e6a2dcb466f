/**
 * The last resort's judgment of a thread that has a canceled step still running past its grace period
 * (pooled-step-runner.ts): whether it moved meanwhile, by its progress count in the tracker
 * (src/shared-memory/step-tracker.ts), and whether the judge saw the period on time.
 */

/**
 * Whether a thread stood still through a grace period: its progress count read as the period began (`before`) and as it
 * ended (`now`). A thread without a count has begun no step yet — the attempt is on its way to it, or it is a
 * new thread taking a dead one's place — so it is starting, not stuck. Taken for stuck, such a thread could be
 * terminated with the steps of other orders just run again on it, and those orders lost their thread a second time
 * through no fault of theirs (503 thread_lost).
 */
export function stoodStill(before: number | undefined, now: number | undefined): boolean {
  return now !== undefined && now === before;
}

/**
 * How late a judgment may come and still vouch for its period: past that, the main thread stood still too — or the
 * whole process did (a paused VM; SIGSTOP for half a second during `wide`'s cancellation storm reproduced it: a thread
 * terminated with 8,861 steps, judged 435 ms late). The 50 ms an instance allows beyond CANCEL_GRACE_MS for a stuck
 * thread's couriers to come back (it gives its lease up that early) is what an on-time judgment may take.
 */
export const UNSEEN_AFTER_MS = 50;

/**
 * A canceled step's thread at the end of a period: moving, stuck (it stood still through a period the judge saw on
 * time), or unseen (it stood still, but the judge came `lateMs` late: nobody may have run).
 */
export function verdictOn(
  before: number | undefined,
  now: number | undefined,
  lateMs: number,
): 'moving' | 'stuck' | 'unseen' {
  if (!stoodStill(before, now)) return 'moving';
  return lateMs > UNSEEN_AFTER_MS ? 'unseen' : 'stuck';
}
