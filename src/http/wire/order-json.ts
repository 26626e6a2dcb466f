/**
 * An order's answer body, written straight from its result: the same text
 * `JSON.stringify` gives of the OrderResponse (src/http/wire/api-schemas.ts) built
 * from it, without building it — no body object, no object per step and no
 * spread per optional field on the main thread, for every order answered.
 * Its fixed parts are prebuilt strings; only the order_id needs escaping (the
 * step names, statuses, kinds and fates are fixed identifiers).
 * test/unit/order-json.test.ts holds it to `JSON.stringify` of the built body.
 */
import type { OrderResult } from '../../pipeline/order-pipeline.js';
import type { StepOutcome } from '../../pipeline/steps.js';

const OK_HEAD = '{"status":"ok","order_id":';
const ERROR_HEAD = '{"status":"error","order_id":';

export function orderResponseText(result: OrderResult): string {
  const { failure } = result;
  let text = (failure ? ERROR_HEAD : OK_HEAD) + JSON.stringify(result.orderId) + ',"steps":' + stepsText(result.steps);
  if (result.compensations.length > 0) text += ',"compensations":' + stepsText(result.compensations);
  if (failure) text += ',"error":{"kind":"' + failure + '","message":"order failed"}';
  return text + '}';
}

function stepsText(steps: readonly StepOutcome[]): string {
  let text = '[';
  for (let i = 0; i < steps.length; i++) text += (i === 0 ? '' : ',') + stepText(steps[i]!);
  return text + ']';
}

function stepText(step: StepOutcome): string {
  let text = '{"name":"' + step.name + '","status":"' + step.status + '","duration_ms":' + step.durationMs;
  if (step.threadId !== undefined) text += ',"thread_id":' + step.threadId;
  if (step.status === 'error' && step.kind !== undefined) text += ',"detail":"' + step.kind + '"';
  if (step.status === 'canceled') text += ',"detail":"canceled: ' + step.cause + '"';
  if (step.threadFate) text += ',"thread_fate":"' + step.threadFate + '"';
  if (step.attempts > 1) text += ',"attempts":' + step.attempts;
  if (step.retries) text += ',"retries":' + step.retries;
  return text + '}';
}
