/**
 * The statements by which recovery (./recovery.ts) takes a lost instance's runs over: which runs are left by a lost
 * (or stopping) instance, which of them would be resumed, the look for those before any room is given, and the claim
 * itself — `FOR UPDATE SKIP LOCKED`, the owner set to the claimer and the fence raised in one statement, so that
 * exactly one instance takes each run, and no finish or step record sent before the claim can land after it.
 */
import type { StepOutcome } from '../pipeline/steps.js';
import { asNumber, type Database, type Statement } from './database.js';

/**
 * A run left by a lost instance: its owner holds no lease — or it is this instance's own and it is not among the runs
 * it knows it runs ($2), and began more than $3 ago: the list is read before the statement, so a run begun or redriven
 * as it is sent is not on it yet. Began: the run's start, not the order's receipt, since a redriven run is new on an
 * order received long ago. Or a run its instance handed over as it stopped (migration 19): claimable at once, though
 * that instance's lease still holds for what it finishes in its drain.
 */
const LEFT = `c.state = 'running' AND c.run <> ALL ($2::bigint[])
              AND (NOT EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = c.owner AND i.lease_until > now())
                   OR (c.owner = $1 AND order_run_started_at(c) < now() - $3 * interval '1 millisecond')
                   OR c.handed_over)`;

/**
 * Whether a run would be resumed once claimed ($4: whether anything is resumed here; $5: ORDER_RECOVERIES_MAX; $6: the
 * deadline it must have left, in ms): what `resumes` says of the claimed row, asked of the row before the claim. Its
 * claims that took it from an instance that handed it over do not count towards $5, this one's included.
 */
const RESUMABLE = `($4 AND c.request IS NOT NULL AND NOT c.cancel_requested
                    AND c.recoveries - c.handovers + (CASE WHEN c.handed_over THEN 0 ELSE 1 END) <= $5
                    AND coalesce(c.deadline_at >= now() + $6 * interval '1 millisecond', false)
                    AND NOT EXISTS (SELECT 1 FROM provider_payments p
                                     WHERE p.order_id = c.order_id AND p.run = c.run AND p.voided))`;

/** The runs this instance would resume, earliest deadline first ($7 of them), read without a lock: room first. */
export const CANDIDATES: Statement = {
  name: 'recovery_candidates',
  text: `SELECT c.order_id, c.tier FROM orders c WHERE ${LEFT} AND ${RESUMABLE} ORDER BY c.deadline_at LIMIT $7`,
};

/**
 * The claim, and in its transaction an attempt on the lost instance of each of the run's steps whose end it recorded
 * not (`lost`: from the run's start — or from the claim before, which resumed it there — to this claim, its thread
 * unknown): what the run's timeline keeps of them. It claims either runs to settle — not resumable, up to $7 of them —
 * or the runs named in $9 that are resumable still, each given room here before ($8: which of the two).
 */
export const CLAIM: Statement = {
  name: 'recovery_claim',
  text: `WITH claimed AS (
           UPDATE orders o SET owner = $1, fence = o.fence + 1, recoveries = o.recoveries + 1, handed_over = false,
                               handovers = o.handovers + (CASE WHEN c.handed_over THEN 1 ELSE 0 END)
             FROM (SELECT c.order_id, c.owner AS lost_owner, c.handed_over FROM orders c
                    WHERE ${LEFT} AND ${RESUMABLE} = $8 AND ($9::text[] IS NULL OR c.order_id = ANY ($9::text[]))
                    LIMIT $7 FOR UPDATE SKIP LOCKED) c
            WHERE o.order_id = c.order_id
              AND EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = $1 AND i.lease_until > now())
            RETURNING o.order_id, o.run, o.runs, o.fence, o.cancel_requested, o.fingerprint, o.request, o.recoveries,
                      o.handovers, c.handed_over,
                      floor(extract(epoch FROM o.deadline_at - now()) * 1000)::bigint AS deadline_left_ms,
                      EXISTS (SELECT 1 FROM provider_payments p WHERE p.order_id = o.order_id AND p.run = o.run AND p.voided)
                        AS voided,
                      c.lost_owner, order_run_started_at(o.*) AS run_started_at),
         lost AS (
           INSERT INTO order_step_tries (order_id, run, step, attempt, thread, instance, started_at, ended_at, outcome)
           SELECT c.order_id, c.run, lost_step.name, c.recoveries, NULL, c.lost_owner,
                  coalesce((SELECT max(t.ended_at) FROM order_step_tries t
                             WHERE t.order_id = c.order_id AND t.run = c.run AND t.step = lost_step.name
                               AND t.outcome = 'lost'), c.run_started_at),
                  now(), 'lost'
             FROM claimed c CROSS JOIN unnest($10::text[]) AS lost_step(name)
            WHERE c.lost_owner IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM order_steps s
                               WHERE s.order_id = c.order_id AND s.run = c.run AND s.step = lost_step.name))
         SELECT order_id, run, runs, fence, cancel_requested, fingerprint, request, recoveries, handovers, handed_over,
                deadline_left_ms, voided
           FROM claimed`,
};
const STEPS_RECORDED_OK: Statement = {
  name: 'recovery_steps_recorded_ok',
  text: `SELECT order_id, run, result FROM order_steps WHERE order_id = ANY($1::text[]) AND outcome = 'ok'`,
};

export interface ClaimedRow {
  readonly order_id: string;
  readonly run: string;
  readonly runs: number;
  readonly fence: number;
  readonly cancel_requested: boolean;
  readonly fingerprint: string;
  /** The order as asked for (JSON): kept only for one with its own deadline. */
  readonly request: string | null;
  /** Its claims so far, this one's included; and how many of them took it from an instance that handed it over. */
  readonly recoveries: number;
  readonly handovers: number;
  /** Its instance handed it over as it stopped, rather than being lost. */
  readonly handed_over: boolean;
  readonly deadline_left_ms: string | null;
  /** The run's payment was voided already (its instance undid it before it was lost): it cannot charge again. */
  readonly voided: boolean;
}

/** The steps recorded ok of each run to resume, by run and order (`${run}\u0000${order_id}`). */
export async function stepsRecordedOk(db: Database, rows: readonly ClaimedRow[]): Promise<Map<string, StepOutcome[]>> {
  const byRun = new Map<string, StepOutcome[]>();
  if (rows.length === 0) return byRun;
  const current = new Set(rows.map((row) => `${asNumber(row.run)}\u0000${row.order_id}`));
  const recorded = await db.query<{ order_id: string; run: string; result: string }>(STEPS_RECORDED_OK, [
    rows.map((row) => row.order_id),
  ]);
  for (const row of recorded) {
    const at = `${asNumber(row.run)}\u0000${row.order_id}`;
    // Steps of the order's earlier runs are not this run's.
    if (!current.has(at)) continue;
    const steps = byRun.get(at) ?? [];
    steps.push(JSON.parse(row.result) as StepOutcome);
    byRun.set(at, steps);
  }
  return byRun;
}

/**
 * The run's claims that took it from a lost instance, what ORDER_RECOVERIES_MAX bounds: one handed over by an
 * instance stopping gracefully is no sign that the order brings its instances down.
 */
export function lossesOf(row: ClaimedRow): number {
  return row.recoveries - row.handovers;
}

/** Whose run was taken over, for the log. */
export const whoseOf = (row: ClaimedRow): string =>
  row.handed_over ? 'its stopping instance handed over' : 'whose instance was lost';
