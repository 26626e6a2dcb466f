/**
 * What a retry of an order is told: a final outcome is recorded with its
 * answer and replayed byte for byte; a passing one — nothing of the order
 * stands, or what stands is not known yet — is not, and a retry runs the
 * order again (or learns how the run it could not see ended).
 */
import type { OrderFailureKind } from '../domain/errors.js';
import type { Tier } from '../domain/tier.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';
import type { RecordedOutcome } from './order-records.js';

/** Failures a retry may well not meet: not replayed, so a retry runs again. */
export const PASSING_FAILURES: ReadonlySet<OrderFailureKind> = new Set([
  'timeout',
  'client_gone',
  'shutting_down',
  'overloaded',
  'thread_lost',
  'interrupted',
  'store_unavailable',
  'outcome_unknown',
]);

/**
 * A failure a dependency caused (an outage) passes too, whatever its kind: the same kind asked for with fail_step is
 * final.
 */
export function isFinal(result: OrderResult): boolean {
  return result.failure === undefined || (!PASSING_FAILURES.has(result.failure) && result.failedByDependency !== true);
}

/**
 * What the records keep of a run's result: its kind, and its answer — replayed to a retry when it is final, else kept
 * for the timeline alone (if any step ran).
 */
export function outcomeOf(result: OrderResult, tier: Tier | undefined): RecordedOutcome {
  // A replayed answer says the tier its run ran at, not the tier a retry asks for.
  const answer = tier === undefined ? result : { ...result, tier };
  const kind = result.failure ?? 'ok';
  if (isFinal(result)) return { kind, replay: answer };
  return result.steps.length === 0 ? { kind, replay: undefined } : { kind, replay: undefined, answered: answer };
}
