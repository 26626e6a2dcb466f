/**
 * An order's steps, attempt by attempt, read from `order_steps` (written by
 * pg-step-journal.ts) on the reads' own connections: an operator's view never
 * takes a connection the orders need. Only an order with a deadline of its own
 * has its steps recorded (the only kind resumed); the others have none.
 *
 * A step carried into a redriven run is copied there as it was recorded:
 * the same attempt twice, listed once, in the run it ran in. An attempt whose
 * instance was lost before the step ended left no row.
 */
import type { OrderKey } from '../domain/order.js';
import type { RecordedAttempts, StepAttempt, StepAttempts } from '../orders/step-attempts.js';
import { asNumber, storedKey, type Database, type Statement } from './database.js';

/**
 * The order's row, and its attempts (none: one row of NULLs). When its latest run began: its own deadline's start
 * (deadline_at is set from it as a run begins, or is redriven), else when it was received.
 */
const ATTEMPTS_OF: Statement = {
  name: 'order_step_attempts',
  text: `SELECT (o.request::json ->> 'deadlineMs')::bigint AS own_deadline_ms,
                coalesce(o.deadline_at - (o.request::json ->> 'deadlineMs')::bigint * interval '1 millisecond',
                         o.received_at) AS run_started_at,
                s.step, s.run, s.attempt, s.thread, s.instance, s.started_at, s.ended_at, s.outcome
           FROM orders o
           LEFT JOIN LATERAL (
             SELECT DISTINCT ON (step, instance, started_at) *
               FROM order_steps
              WHERE order_id = o.order_id
              ORDER BY step, instance, started_at, run
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
    const rows = await this.db.read<AttemptRow>(ATTEMPTS_OF, [storedKey(key)]);
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
