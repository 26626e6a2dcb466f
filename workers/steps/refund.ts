/**
 * Refunds the order's payment: the compensation run when the payment went
 * through but the order as a whole failed. It runs after the order was
 * canceled, under a deadline of its own. Fails when the order asks it to
 * (fail_compensation), to exercise what happens then.
 */
import { StepFailure, type StepFunction } from '../step-api.js';

const refund: StepFunction = async (order, ctx) => {
  await ctx.sleep(order.delayMs.refund);
  if (order.failCompensation) {
    ctx.log.error({ amount: order.amount }, 'refund failed: the payment stands; it needs a person');
    throw new StepFailure('refund_failed');
  }
  ctx.log.debug({ amount: order.amount }, 'refunded');
};

export default refund;
