/**
 * The shape all three built-in steps share: compute for the order's cpu_ms,
 * wait for its delay_ms as a stand-in for the remote call, then fail if the
 * order says this step should.
 */
import type { StepFailureKind } from '../../src/domain/errors.js';
import type { StepName } from '../../src/domain/order.js';
import { StepFailure, type StepFunction } from '../step-api.js';

export function simulatedStep(name: StepName, failure: StepFailureKind): StepFunction {
  return async (order, ctx) => {
    await ctx.compute(order.cpuMs[name]);
    await ctx.sleep(order.delayMs[name]);
    if (order.failStep === name) {
      ctx.log.debug({ kind: failure }, `${name} failed`);
      throw new StepFailure(failure);
    }
    ctx.log.debug(`${name} done`);
  };
}
