/**
 * An order's steps, attempt by attempt, read from `order_steps` (each step's
 * last try, written by pg-step-journal.ts) and `order_step_tries` (its tries
 * whose thread was lost, written with it; and the steps of a run whose
 * instance was lost before their end was recorded, written by recovery.ts as
 * it takes the run over) on the reads' own connections: an operator's view
 * never takes a connection the orders need. Only an order with a deadline of
 * its own has its steps' ends recorded (the only kind resumed); the others'
 * show only what their instance's loss left.
 *
 * A step carried into a redriven run is copied there as it was recorded:
 * the same attempt twice, listed once, in the run it ran in.
 */
import { partsOfKey, type OrderKey } from '../domain/order.js';
import type { RecordedAttempts, StepAttempt, StepAttempts } from '../orders/step-attempts.js';
import { asNumber, storedKey, type Database, type Statement } from './database.js';

/** The order's row, and its attempts (none: one row of NULLs), with when its latest run began. */
const ATTEMPTS_OF: Statement = {
  name: 'order_step_attempts',
  text: `SELECT (o.request::json ->> 'deadlineMs')::bigint AS own_deadline_ms, order_run_started_at(o) AS run_started_at,
                s.step, s.run, s.attempt, s.thread, s.instance, s.started_at, s.ended_at, s.outcome
           FROM orders o
           LEFT JOIN LATERAL (
             (SELECT DISTINCT ON (step, instance, started_at) step, run, attempt, thread, instance, started_at, ended_at,
                     outcome
                FROM order_steps
               WHERE order_id = o.order_id
               ORDER BY step, instance, started_at, run)
             UNION ALL
             SELECT step, run, attempt, thread, instance, started_at, ended_at, outcome
               FROM order_step_tries
              WHERE order_id = o.order_id
           ) s ON true
          WHERE o.order_id = $1
          ORDER BY s.started_at, s.step`,
};

interface AttemptRow {
  readonly own_deadline_ms: string | null;
  readonly run_started_at: Date;
  readonly step: string | null;
  readonly run: string;
  readonly attempt: number;
  readonly thread: number | null;
  readonly instance: string;
  readonly started_at: Date;
  readonly ended_at: Date;
  readonly outcome: StepAttempt['outcome'];
}

export class PgStepAttempts implements StepAttempts {
  constructor(private readonly db: Database) {}

  async of(key: OrderKey): Promise<RecordedAttempts | undefined> {
    const rows = await this.db.read<AttemptRow>(ATTEMPTS_OF, [storedKey(key)], partsOfKey(key).client);
    const [first] = rows;
    if (first === undefined) return undefined;
    return {
      ownDeadlineMs: first.own_deadline_ms === null ? undefined : asNumber(first.own_deadline_ms),
      runStartedAt: first.run_started_at,
      attempts: rows.flatMap((row) =>
        row.step === null
          ? []
          : [
              {
                step: row.step,
                run: asNumber(row.run),
                takeovers: row.attempt - 1,
                threadId: row.thread ?? undefined,
                instance: row.instance,
                startedAt: row.started_at,
                endedAt: row.ended_at,
                outcome: row.outcome,
              },
            ],
      ),
    };
  }
}
