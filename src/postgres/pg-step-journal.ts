/**
 * Each step's end, recorded in Postgres (`order_steps`) by the instance that
 * runs it — for an order with a deadline of its own, the only kind resumed —
 * under its run's fence — what a run taken over resumes from
 * (recovery.ts): a step recorded ok stands, its recorded outcome in place
 * of running it again. One statement per batch of steps ending together,
 * which also reads the run's money at the provider into the row.
 *
 * A record that does not get through is dropped, not retried: the step then
 * runs again if the run is resumed, and the one step that moves money, the
 * charge, reaches the provider under the run's idempotency key again, which
 * keeps one charge however many calls reached it.
 *
 * A step that ran again after its thread was lost under it carries its
 * earlier tries (`earlierTries`): the same statement records them
 * (`order_step_tries`), beside the step's row, its last try.
 */
import type { OrderRun } from '../domain/order.js';
import type { StatementObserver } from '../domain/trace.js';
import type { StepJournal, StepOutcome } from '../pipeline/steps.js';
import { Batcher, type BatcherOptions } from './batcher.js';
import { observedAs, storedKey, type Database, type Statement } from './database.js';
import type { PgOrderRecords } from './pg-order-records.js';

const RECORD_MANY: Statement = {
  name: 'order_step_record_many',
  text: 'SELECT recorded FROM order_step_record_many($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) AS recorded',
};

interface StepEnd {
  readonly id: string;
  readonly run: number;
  readonly owner: string;
  readonly fence: number;
  readonly outcome: StepOutcome;
}

/** A step's tries before its last, as the record takes them (times from its dispatch); null when it had one. */
function triesJson({ earlierTries }: StepOutcome): string | null {
  if (earlierTries === undefined) return null;
  return JSON.stringify(
    earlierTries.map((tried) => ({
      thread: tried.threadId ?? null,
      fate: tried.fate,
      started_ms: tried.startedMs,
      ended_ms: tried.endedMs,
    })),
  );
}

/** The step's outcome as a resume stands on it; its earlier tries are rows of their own (order_step_tries), not kept twice. */
const resultJson = (outcome: StepOutcome): string =>
  JSON.stringify(outcome.earlierTries === undefined ? outcome : { ...outcome, earlierTries: undefined });

/** Rows of orders locked in one order by every batch (as the finishes lock them). */
const byKey = (a: StepEnd, b: StepEnd): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class PgStepJournal implements StepJournal {
  private readonly records: Batcher<StepEnd, { recorded: boolean }>;

  constructor(
    db: Database,
    private readonly runs: PgOrderRecords,
    batching: Omit<BatcherOptions<never>, 'order' | 'observe'>,
    statements?: StatementObserver,
  ) {
    this.records = new Batcher<StepEnd, { recorded: boolean }>(
      (ends) =>
        db.query(RECORD_MANY, [
          ends.map((e) => e.id),
          ends.map((e) => e.run),
          ends.map((e) => e.owner),
          ends.map((e) => e.fence),
          ends.map((e) => e.outcome.name),
          ends.map((e) => e.outcome.threadId ?? null),
          ends.map((e) => e.outcome.durationMs),
          ends.map((e) => e.outcome.status),
          ends.map((e) => resultJson(e.outcome)),
          ends.map((e) => triesJson(e.outcome)),
        ]),
      { ...batching, order: byKey, observe: observedAs('order_step_record', statements) },
    );
  }

  stepEnded({ key, runNumber, order }: OrderRun, outcome: StepOutcome): Promise<void> | undefined {
    // Only an order with a deadline of its own is ever resumed or redriven (its request is kept for it): the others'
    // steps are not worth a statement each, nor their answer a wait.
    if (order.deadlineMs === undefined) return undefined;
    // A run not this instance's any more (taken over) has nothing to record here: its fence would refuse it.
    const holder = this.runs.holderOf(runNumber);
    if (holder === undefined) return undefined;
    return this.records
      .call({ id: storedKey(key), run: runNumber, owner: holder.owner, fence: holder.fence, outcome })
      .then(
        () => undefined,
        () => undefined,
      );
  }
}
