/**
 * The shape all built-in steps share: a call to the step's dependency — its
 * request sent (`send`) if the call reaches the service, the order's cpu_ms
 * computed, the answer awaited for its delay_ms (or the fault the order
 * injects, in its place) and any latency an outage adds — then a failure if
 * the order says this step should fail. A call an outage refuses is made
 * again while the step's retries last, never for a step the order asked to
 * fail: that failure is the order's own.
 */
import type { StepFailureKind } from '../../src/domain/errors.js';
import type { Order, StepName } from '../../src/domain/order.js';
import { StepFailure, type StepContext, type StepFunction } from '../step-api.js';

export function simulatedStep(
  name: StepName,
  failure: StepFailureKind,
  send?: (order: Order, ctx: StepContext) => void,
): StepFunction {
  // Not an async function, nor its call's attempt: a step waiting for its answer keeps no frame of either (issue 32).
  return (order, ctx) => {
    const called = ctx.callDependency(
      name,
      (call) => {
        if (call.reaches) send?.(order, ctx);
        const answer = (): Promise<void> => call.answer(order.delayMs[name], order.faults?.[name]);
        // The step's own work, done once whatever the calls.
        const cpuMs = call.number === 1 ? order.cpuMs[name] : 0;
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
}
