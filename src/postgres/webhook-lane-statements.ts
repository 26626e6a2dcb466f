/**
 * The SQL of webhook delivery in the durable mode (pg-webhook-lanes.ts): reading an order's owed deliveries, marking
 * them, queueing a redelivery, the backlog's figures, and the housekeeping of graphile-worker's locks and of events past
 * their retention. Each statement's comment says the race it closes.
 */
import type { Statement } from './database.js';
import { EVENT_COLUMNS } from './pg-events.js';

/** graphile-worker's task that delivers one order's owed events. */
export const TASK = 'webhook_lane';
/** graphile-worker's retries of a lane are for a lost Postgres only: never given up (smallint's largest). */
export const MAX_ATTEMPTS = 32767;

/**
 * A lane's job added again by a run of it (pg-webhook-lanes.ts, addLaneJob): a retry, a deferral, a hand-over. Sent in
 * its client's turn for the delivery thread's connections, not on graphile-worker's own, where every instance's claims
 * and completions wait in one first-come line.
 */
export const LANE_AGAIN: Statement = {
  name: 'webhook_lane_again',
  text: `SELECT 1 FROM graphile_worker.add_job($1, $2::json, queue_name := $3, run_at := $4, max_attempts := $5,
                                            job_key := $6, job_key_mode := $7, priority := $8, flags := $9)`,
};

export const LANE: Statement = {
  name: 'webhook_lane',
  text: `SELECT ${EVENT_COLUMNS.split(', ')
    .map((column) => `e.${column}`)
    .join(', ')}, d.endpoint_id, d.xmin::text AS version, d.failures, w.url, w.secret,
                w.client AS endpoint_client
           FROM event_deliveries d JOIN events e ON e.seq = d.event_seq
                JOIN webhook_endpoints w ON w.id = d.endpoint_id AND w.disabled IS NULL
          WHERE d.order_id = $1 AND ($2::text IS NULL OR d.endpoint_id = $2) AND d.done_at IS NULL
          ORDER BY d.endpoint_id, e.seq`,
};
/**
 * Only rows still as the job read them: an admin's redelivery resets a row while the job that read it may still be
 * sending (it marks at its end), and marking the reset row delivered lost the redelivery (seen beside busy cores).
 */
export const DELIVERED: Statement = {
  name: 'webhook_deliveries_delivered',
  text: `UPDATE event_deliveries d SET done_at = now(), outcome = 'delivered'
           FROM unnest($1::text[], $2::bigint[], $3::text[]) AS done (endpoint_id, event_seq, version)
          WHERE d.endpoint_id = done.endpoint_id AND d.event_seq = done.event_seq AND d.xmin = done.version::xid`,
};
export const DONE: Statement = {
  name: 'webhook_delivery_done',
  text: 'UPDATE event_deliveries SET done_at = now(), outcome = $3 WHERE endpoint_id = $1 AND event_seq = $2',
};
export const FAILED: Statement = {
  name: 'webhook_delivery_failed',
  text: `UPDATE event_deliveries SET failures = failures + 1, first_attempt_at = coalesce(first_attempt_at, now())
          WHERE endpoint_id = $1 AND event_seq = $2
          RETURNING failures, extract(epoch FROM now() - first_attempt_at) * 1000 AS failing_ms,
                    EXISTS (SELECT 1 FROM event_deliveries o WHERE o.endpoint_id = $1 AND o.outcome = 'delivered'
                                AND o.done_at > event_deliveries.first_attempt_at) AS took_any`,
};
export const REDELIVER: Statement = {
  name: 'webhook_redeliver',
  text: `WITH owed AS (
           INSERT INTO event_deliveries (endpoint_id, event_seq, order_id)
           SELECT w.id, e.seq, e.order_id FROM events e JOIN webhook_endpoints w ON w.client = e.client AND w.disabled IS NULL
            WHERE e.seq = $1
           ON CONFLICT (endpoint_id, event_seq) DO UPDATE
             SET done_at = NULL, outcome = NULL, failures = 0, first_attempt_at = NULL
           RETURNING endpoint_id, order_id)
         SELECT count(*)::int AS queued,
                (SELECT graphile_worker.add_job('${TASK}', json_build_object('order', order_id),
                   queue_name := 'webhook:' || order_id, job_key := 'webhook:' || order_id, job_key_mode := 'replace',
                   max_attempts := ${MAX_ATTEMPTS}, flags := ARRAY['client:' || split_part(order_id, ':', 1)])
                  FROM owed LIMIT 1) IS NOT NULL AS added
           FROM owed`,
};
export const BACKLOG: Statement = {
  name: 'webhook_backlog',
  text: `SELECT count(*)::int AS pending, min(e.created_at) AS oldest
           FROM event_deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.done_at IS NULL`,
};
export const POOL_GONE: Statement = {
  name: 'webhook_pool_gone',
  text: 'DELETE FROM webhook_queue_pools WHERE pool_id = ANY ($1::text[])',
};
export const POOL_STARTED: Statement = {
  name: 'webhook_pool_started',
  // Again at every pass: an instance that lost its lease and came back runs its pool under its new identity.
  text: `INSERT INTO webhook_queue_pools (pool_id, instance_id) SELECT unnest($1::text[]), $2
         ON CONFLICT (pool_id) DO UPDATE SET instance_id = excluded.instance_id
          WHERE webhook_queue_pools.instance_id <> excluded.instance_id`,
};
// graphile-worker's own tables, as its resetLockedAt writes them, for the jobs of pools no live instance runs.
export const UNLOCK_LOST: Statement = {
  name: 'webhook_unlock_lost',
  text: `WITH lost AS (
           SELECT DISTINCT locked_by FROM graphile_worker._private_jobs
            WHERE locked_by IS NOT NULL AND locked_at < now() - $1 * interval '1 millisecond'
              AND NOT EXISTS (SELECT 1 FROM webhook_queue_pools p JOIN instances i ON i.instance_id = p.instance_id
                               WHERE p.pool_id = locked_by AND i.lease_until > now())),
         jobs AS (
           UPDATE graphile_worker._private_jobs j SET locked_at = NULL, locked_by = NULL
             FROM lost WHERE j.locked_by = lost.locked_by RETURNING 1),
         queues AS (
           UPDATE graphile_worker._private_job_queues q SET locked_at = NULL, locked_by = NULL
             FROM lost WHERE q.locked_by = lost.locked_by RETURNING 1)
         SELECT (SELECT count(*) FROM jobs)::int AS jobs`,
};
/**
 * A queue locked by a pool that holds none of its jobs, as graphile-worker leaves one when a job is completed by a run
 * that no longer held it: a job freed from a pool judged lost (UNLOCK_LOST), claimed again by another instance's pool,
 * is deleted by id when the first run ends (graphile-worker's completion deletes whoever holds it, and unlocks the
 * queue only if it is its own); the second run's completion then finds no row, so its queue lock is never let go, and
 * every later job of the order waits behind it for graphile-worker's four hours (a chaos run: ten events of four
 * orders never delivered). graphile-worker locks a queue and its job in one statement, and lets both go in one: a lock
 * older than the grace with no job of its pool under it is no one's. Only queues with a job waiting to run.
 */
export const UNLOCK_ORPHANED: Statement = {
  name: 'webhook_unlock_orphaned',
  text: `UPDATE graphile_worker._private_job_queues q SET locked_at = NULL, locked_by = NULL
          WHERE q.id IN (SELECT j.job_queue_id FROM graphile_worker._private_jobs j
                          WHERE j.job_queue_id IS NOT NULL AND j.locked_by IS NULL AND j.run_at <= now())
            AND q.locked_by IS NOT NULL AND q.locked_at < now() - $1 * interval '1 millisecond'
            AND NOT EXISTS (SELECT 1 FROM graphile_worker._private_jobs h
                             WHERE h.job_queue_id = q.id AND h.locked_by = q.locked_by)
         RETURNING q.id`,
};
/**
 * The queues of done orders with no job left, deleted, as graphile-worker's own GC_JOB_QUEUES would: graphile-worker
 * keeps a named queue after its last job, each order has one of its own, and every claim locks every queue not locked
 * (`is_available … FOR UPDATE SKIP LOCKED`), so claims slowed with every order ever delivered
 * (docs/decisions/graphile-worker-over-pg-boss.md). An order's row is locked first, skipping one a transaction holds:
 * an outcome's event is written by the transaction that moves its order, so it cannot add a job to a queue between its
 * making and its deletion here. A late refund's event does not hold the row: in that instant its job finds no queue,
 * and runs in none — delivered all the same, only not kept apart from another job of its order. At most $1 a time.
 */
export const SWEEP_QUEUES: Statement = {
  name: 'webhook_sweep_queues',
  text: `WITH idle AS (
           SELECT q.id FROM graphile_worker._private_job_queues q
             JOIN orders o ON o.order_id = substr(q.queue_name, 9)
            WHERE q.queue_name LIKE 'webhook:%' AND q.locked_at IS NULL AND o.state = 'done'
              AND NOT EXISTS (SELECT 1 FROM graphile_worker._private_jobs j WHERE j.job_queue_id = q.id)
            LIMIT $1
              FOR UPDATE OF o SKIP LOCKED)
         DELETE FROM graphile_worker._private_job_queues q USING idle
          WHERE q.id = idle.id AND q.locked_at IS NULL
            AND NOT EXISTS (SELECT 1 FROM graphile_worker._private_jobs j WHERE j.job_queue_id = q.id)
         RETURNING q.id`,
};
/**
 * The running job stops answering to its order's key, as graphile-worker does to a running job when one is added with
 * its key: a job freed while it still runs (UNLOCK_LOST judged its instance lost: a lease lapsed in a pause) and then
 * given a new event by key was written into in place, and this run, ending, deleted it as its own (graphile-worker
 * completes by id), and the event was never delivered. Only while this pool holds the row as it claimed it.
 */
export const DETACH: Statement = {
  name: 'webhook_lane_detach',
  text: `UPDATE graphile_worker._private_jobs SET key = NULL
          WHERE id = $1 AND locked_by = $2 AND revision = $3 RETURNING id`,
};
/**
 * The housekeeping's: events past EVENT_RETENTION_DAYS ($1) and owed to no one, forgotten. Each client's newest
 * position forgotten is kept (migration 11): a feed resumed from behind it is told its gap.
 */
export const FORGET: Statement = {
  name: 'events_forget',
  text: `WITH gone AS (
           DELETE FROM events WHERE seq IN (
             SELECT seq FROM events WHERE created_at < now() - $1 * interval '1 day'
                AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_seq = events.seq AND d.done_at IS NULL)
              LIMIT 10000)
           RETURNING client, xid, seq),
         newest AS (SELECT DISTINCT ON (client) client, xid, seq FROM gone ORDER BY client, xid DESC, seq DESC)
         INSERT INTO events_forgotten (client, xid, seq) SELECT client, xid, seq FROM newest
         ON CONFLICT (client) DO UPDATE SET xid = excluded.xid, seq = excluded.seq
          WHERE (events_forgotten.xid, events_forgotten.seq) < (excluded.xid, excluded.seq)`,
};
