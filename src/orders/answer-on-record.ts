/**
 * A run's answer when the records hold another outcome for it than the one it reached: it was taken over while its
 * instance could not hold it (paused past its lease, say), and whoever took it over ended it. Every other copy of the
 * order and every retry is told the answer on record, so this run's client is too — never what its late attempt
 * reached, a body no replay of the order would give.
 */
import type { OrderKey, OrderRun } from '../domain/order.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';
import type { Finished, OrderRecords, RecordedOutcome } from './order-records.js';

/** How long a run ended elsewhere waits to read the answer on record (it is there: only a read's time). */
const ON_RECORD_WITHIN_MS = 5000;

/**
 * The answer on record for run `run` of the order, replayed as a later request would be told it; for a passing outcome
 * (never replayed), `result` under the kind on record.
 */
export async function answerOnRecord(
  records: Pick<OrderRecords, 'awaitRun'>,
  key: OrderKey,
  run: OrderRun,
  result: OrderResult,
): Promise<{ readonly kind: 'answered'; readonly result: OrderResult; readonly via: 'replayed' | 'ran' }> {
  const onRecord = await records
    .awaitRun(key, run.runNumber, AbortSignal.timeout(ON_RECORD_WITHIN_MS))
    .catch((): RecordedOutcome => ({ kind: 'outcome_unknown', replay: undefined }));
  if (onRecord.replay) return { kind: 'answered', result: onRecord.replay, via: 'replayed' };
  return { kind: 'answered', result: withFailure(result, onRecord.kind), via: 'ran' };
}

/** The run's result under the outcome the records hold for it. */
export function withFailure(result: OrderResult, recorded: Finished): OrderResult {
  return {
    ...result,
    failure: recorded === 'ok' || recorded === 'cancel_requested' || recorded === 'taken_over' ? undefined : recorded,
  };
}
