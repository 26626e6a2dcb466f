/**
 * The events at rest, read from Postgres for the checker: what committed,
 * once nothing is owed to the receiver any more.
 */
import type { CommittedEvent } from './event-check.js';
import type { ChaosPostgres } from './postgres.js';

/** Wait until no delivery is owed (each delivered, given up or dropped), at most `withinMs`. */
export async function untilEventsDelivered(postgres: ChaosPostgres, withinMs: number): Promise<void> {
  const until = performance.now() + withinMs;
  for (;;) {
    const [row] = await postgres
      .query<{ owed: number }>('SELECT count(*)::int AS owed FROM event_deliveries WHERE done_at IS NULL')
      .catch(() => [{ owed: -1 }]);
    if (row?.owed === 0 || performance.now() > until) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function readCommittedEvents(postgres: ChaosPostgres): Promise<CommittedEvent[]> {
  const rows = await postgres.query<{ id: string; seq: string; order_id: string; type: string }>(
    "SELECT id, seq, substr(order_id, strpos(order_id, ':') + 1) AS order_id, type FROM events ORDER BY seq",
  );
  return rows.map((row) => ({ id: row.id, seq: Number(row.seq), orderId: row.order_id, type: row.type }));
}

/**
 * Each delivery still owed, with its order's jobs as graphile-worker holds them: what a report needs to tell a lost
 * job (none), one waiting far ahead (run_at, attempts) and one held by a pool that is gone (locked_by).
 */
export async function describeOwed(postgres: ChaosPostgres): Promise<string[]> {
  const rows = await postgres
    .query<{ owed: string; jobs: string | null }>(
      `SELECT format('seq %s to %s: %s failures, first attempt %s', d.event_seq, d.endpoint_id, d.failures,
                     coalesce(d.first_attempt_at::text, 'never')) AS owed,
              (SELECT string_agg(format('job %s key %s run_at %s attempts %s/%s locked_by %s error %s', j.id,
                                        coalesce(j.key, '-'), j.run_at, j.attempts, j.max_attempts,
                                        coalesce(j.locked_by, '-'), coalesce(left(j.last_error, 80), '-')), '; ')
                 FROM graphile_worker._private_jobs j WHERE j.payload->>'order' = d.order_id) AS jobs
         FROM event_deliveries d WHERE d.done_at IS NULL ORDER BY d.event_seq`,
    )
    .catch((error: unknown) => [{ owed: `(not read: ${(error as Error).message})`, jobs: null }]);
  return rows.map((row) => `${row.owed}; ${row.jobs ?? 'no job'}`);
}
