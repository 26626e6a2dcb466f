/**
 * What every built-in step does: a call to its dependency — its request sent (`send`) if the call reaches the service,
 * the order's cpu_ms computed, the answer awaited for its delay_ms (or the fault the order injects, in its place) and
 * any latency an outage adds — then a failure if the order says this step should fail. A call an outage refuses is made
 * again while the step's retries last, never for a step the order asked to fail: that failure is the order's own. With
 * `holdsCourier`, a courier slot is taken first and held until the call is done.
 *
 * A step that sends nothing as its call starts (the payment sends its charge) acts on its service as its call is
 * answered: the vendor takes the order, the courier service assigns the courier — an effect requested under the run's
 * key and the claim's fence (ctx.service), once the service has answered and unless the order asked this step to fail
 * (the service said no). A step taken over and run again, on another thread or another instance, asks again under the
 * same key, and the service's books keep one effect.
 */
import type { StepFailureKind } from '../../src/domain/errors.js';
import type { Order, StepName } from '../../src/domain/order.js';
import { StepFailure, type StepContext, type StepFunction } from '../step-api.js';

export function simulatedStep(
  step: StepName,
  failure: StepFailureKind,
  send?: (order: Order, ctx: StepContext) => void,
  { holdsCourier = false }: { readonly holdsCourier?: boolean } = {},
): StepFunction {
  return async (order, ctx) => {
    using _courier = holdsCourier ? await ctx.acquireCourier() : undefined;
    await ctx.callDependency(
      step,
      async (call) => {
        if (call.reaches) send?.(order, ctx);
        // The step's own work, done once whatever the calls.
        if (call.number === 1 && order.cpuMs[step] > 0) await ctx.compute(order.cpuMs[step]);
        await call.answer(order.delayMs[step], order.faults?.[step]);
      },
      { retry: order.failStep !== step, expectedMs: order.delayMs[step] },
    );
    if (order.failStep === step) throw new StepFailure(failure);
    if (!send) ctx.service.requestEffect();
  };
}
