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
