/**
 * The bench's baseline (load/lib/inline-step-runner.ts) keeps the same
 * books as the pool: a step's request to the payment provider reaches the
 * ledger, and the step's outcome says what the provider did. A baseline that
 * dropped them was measured doing less than the pool it was compared with.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ANONYMOUS } from '../../src/auth/caller.js';
import { DEFAULT_STEPS } from '../../src/composition/steps.js';
import { everyStep, runOf, type Order } from '../../src/domain/order.js';
import { OrderPipeline } from '../../src/pipeline/order-pipeline.js';
import { inlineStepRunner } from '../../load/lib/inline-step-runner.js';

const order = (orderId: string, failStep?: Order['failStep']): Order => ({
  client: ANONYMOUS,
  orderId,
  amount: 1200,
  failStep,
  failCompensation: false,
  delayMs: { ...everyStep(1), refund: 0 },
  cpuMs: everyStep(0),
});

describe('the inline baseline of the bench', () => {
  it("settles each step's requests with the payment gateway: a charge is on the books, a failed order's refunded", async () => {
    const { runner, tracker, ledger } = await inlineStepRunner(DEFAULT_STEPS, {
      couriers: 5,
      keepMs: Infinity,
      log: pino({ level: 'silent' }),
    });
    const pipeline = new OrderPipeline(DEFAULT_STEPS, runner, { timeoutMs: 5000, compensationTimeoutMs: 5000 });
    const trace = { requestId: 'inline-books' };

    const paid = runOf(order('paid'), 1);
    const result = await pipeline.process(paid, new AbortController().signal, trace);
    expect(result.failure).toBeUndefined();
    expect(result.steps.find((step) => step.name === 'payment')).toMatchObject({ effect: 'applied' });
    expect(ledger.moneyOfNow(paid.key)).toEqual({ charged: 1200, refunded: 0 });

    const failed = runOf(order('failed', 'courier'), 1);
    expect((await pipeline.process(failed, new AbortController().signal, trace)).failure).toBeDefined();
    const money = ledger.moneyOfNow(failed.key);
    expect(money?.charged).toBe(money?.refunded);
    expect(tracker.running()).toBe(0);
  });
});
