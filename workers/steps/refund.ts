/**
 * Voids the order's payment: the compensation run when the order failed and
 * its payment may have been taken. The void reaches the provider as the step
 * starts — it refunds what this run charged, or refuses a charge still on its
 * way — and the answer takes delay_ms.refund. It runs after the order was
 * canceled, under a deadline of its own. With fail_compensation the provider
 * refuses to give the money back, to exercise what happens then.
 */
import { waitForAnswer } from '../faults.js';
import { StepFailure, type StepFunction } from '../step-api.js';

const refund: StepFunction = async (order, ctx) => {
  ctx.paymentProvider.requestVoid({ refuse: order.failCompensation });
  await waitForAnswer(ctx, order.delayMs.refund, order.faults?.refund);
  if (order.failCompensation) throw new StepFailure('refund_failed');
  ctx.log.debug({ amount: order.amount }, 'payment voided');
};

export default refund;
