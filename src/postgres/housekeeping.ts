/**
 * Housekeeping, run by recovery at start and every ten seconds after: it
 * forgets outcomes past their replay window (with the provider's books of
 * them, as the in-memory store does; up to 100,000 a pass, which outruns any
 * rate this service reaches) and the rows of instances long dead that own
 * nothing, then counts the outcomes kept, for the records' room.
 */
import type { Database, Statement } from './database.js';
import type { PgOrderRecords } from './pg-order-records.js';

const FORGET_EXPIRED: Statement = {
  name: 'recovery_forget_expired',
  text: `WITH gone AS (
           DELETE FROM orders WHERE order_id IN (
             SELECT order_id FROM orders WHERE state = 'done' AND replay_until < now()
                AND NOT (kind = 'compensation_failed' AND alarm_raised_at IS NULL)
              LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING order_id),
         books AS (DELETE FROM provider_payments p USING gone WHERE p.order_id = gone.order_id RETURNING 1),
         steps AS (DELETE FROM order_steps s USING gone WHERE s.order_id = gone.order_id RETURNING 1),
         tries AS (DELETE FROM order_step_tries t USING gone WHERE t.order_id = gone.order_id RETURNING 1),
         effects AS (DELETE FROM service_requests r USING gone WHERE r.order_id = gone.order_id RETURNING 1)
         SELECT count(*)::int AS forgotten FROM gone`,
};
const FORGET_INSTANCES: Statement = {
  name: 'recovery_forget_instances',
  text: `DELETE FROM instances i WHERE i.lease_until < now() - interval '1 minute'
           AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.owner = i.instance_id AND o.state = 'running')`,
};
const COUNT: Statement = { name: 'recovery_count', text: 'SELECT count(*)::int AS n FROM orders' };

/** Outcomes forgotten per statement, and statements per housekeeping pass at most (the rest waits for the next). */
const FORGET_BATCH = 5000;
const FORGET_STATEMENTS = 20;
/** How often recovery keeps house. */
export const HOUSEKEEPING_MS = 10_000;

/** Forget what is past its time, then count what is kept. Never rejects: the next pass tries again. */
export async function keepHouse(db: Database, records: PgOrderRecords): Promise<void> {
  try {
    for (let n = 0; n < FORGET_STATEMENTS; n++) {
      const [row] = await db.query<{ forgotten: number }>(FORGET_EXPIRED, [FORGET_BATCH]);
      if ((row?.forgotten ?? 0) < FORGET_BATCH) break;
    }
    await db.query(FORGET_INSTANCES);
    const [row] = await db.query<{ n: number }>(COUNT);
    records.counted = row?.n ?? 0;
  } catch {
    // Next time.
  }
}
