/**
 * The shape all built-in steps share: a call to the step's dependency — its
 * request sent (`send`) if the call reaches the service, the order's cpu_ms
 * computed, the answer awaited for its delay_ms (or the fault the order
 * injects, in its place) and any latency an outage adds — then a failure if
 * the order says this step should fail. A call an outage refuses is made
 * again while the step's retries last, never for a step the order asked to
 * fail: that failure is the order's own. With `holdsCourier`, a courier slot
 * is taken first and held until the call is done.
 *
 * The step is also its plan (step-api.ts's StepPlan): the runtime runs an
 * order that asks for nothing more than that as one record, and this
 * function is for the rest.
 */
import type { StepFailureKind } from '../../src/domain/errors.js';
import type { Order, StepName } from '../../src/domain/order.js';
import { StepFailure, type PlannedStep, type StepContext, type StepFunction } from '../step-api.js';

export function simulatedStep(
  name: StepName,
  failure: StepFailureKind,
  send?: (order: Order, ctx: StepContext) => void,
  { holdsCourier = false }: { readonly holdsCourier?: boolean } = {},
): PlannedStep {
  // Not an async function, nor its call's attempt: a step waiting for its answer keeps no frame of either (issue 32).
  const call: StepFunction = (order, ctx) => {
    const called = ctx.callDependency(
      name,
      (attempt) => {
        if (attempt.reaches) send?.(order, ctx);
        const answer = (): Promise<void> => attempt.answer(order.delayMs[name], order.faults?.[name]);
        // The step's own work, done once whatever the calls.
        const cpuMs = attempt.number === 1 ? order.cpuMs[name] : 0;
        return cpuMs > 0 ? ctx.compute(cpuMs).then(answer) : answer();
      },
      { retry: order.failStep !== name, expectedMs: order.delayMs[name] },
    );
    if (order.failStep !== name) return called;
    return called.then(() => {
      ctx.log.debug({ kind: failure }, `${name} failed`);
      throw new StepFailure(failure);
    });
  };
  const step: StepFunction = holdsCourier
    ? async (order, ctx) => {
        using _courier = await ctx.acquireCourier();
        await call(order, ctx);
      }
    : call;
  return Object.assign(step, { plan: { step: name, failure, holdsCourier, send } });
}
