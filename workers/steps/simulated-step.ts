/**
 * The plan all built-in steps share (step-api.ts's StepPlan): a call to the step's dependency — its request sent
 * (`send`) if the call reaches the service, the order's cpu_ms computed, the answer awaited for its delay_ms (or the
 * fault the order injects, in its place) and any latency an outage adds — then a failure if the order says this step
 * should fail. A call an outage refuses is made again while the step's retries last, never for a step the order asked
 * to fail: that failure is the order's own. With `holdsCourier`, a courier slot is taken first and held until the call
 * is done. The runtime runs it (workers/task-run.ts).
 */
import type { StepFailureKind } from '../../src/domain/errors.js';
import type { Order, StepName } from '../../src/domain/order.js';
import type { StepContext, StepPlan } from '../step-api.js';

export function simulatedStep(
  step: StepName,
  failure: StepFailureKind,
  send?: (order: Order, ctx: StepContext) => void,
  { holdsCourier = false }: { readonly holdsCourier?: boolean } = {},
): StepPlan {
  return Object.freeze({ step, failure, holdsCourier, send });
}
