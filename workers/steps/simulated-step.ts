/**
 * The shape all built-in steps share: compute for the order's cpu_ms, wait
 * for its delay_ms as a stand-in for the remote call's answer (or commit the
 * fault the order injects, in its place), then fail if the order says this
 * step should.
 */
import type { StepFailureKind } from '../../src/domain/errors.js';
import type { StepName } from '../../src/domain/order.js';
import { waitForAnswer } from '../faults.js';
import { StepFailure, type StepFunction } from '../step-api.js';

export function simulatedStep(name: StepName, failure: StepFailureKind): StepFunction {
  return async (order, ctx) => {
    await ctx.compute(order.cpuMs[name]);
    await waitForAnswer(ctx, order.delayMs[name], order.faults?.[name]);
    if (order.failStep === name) {
      ctx.log.debug({ kind: failure }, `${name} failed`);
      throw new StepFailure(failure);
    }
    ctx.log.debug(`${name} done`);
  };
}
