/**
 * Charges the order. The charge request reaches the payment provider as the
 * step starts; the provider's answer takes delay_ms.payment. With
 * fail_step "payment" the order pays with the provider's test card that is
 * always declined: nothing is charged, and the step fails with
 * payment_declined.
 */
import type { StepFunction } from '../step-api.js';
import { simulatedStep } from './simulated-step.js';

const awaitAnswer = simulatedStep('payment', 'payment_declined');

const payment: StepFunction = async (order, ctx) => {
  ctx.paymentProvider.requestCharge(order.amount, { decline: order.failStep === 'payment' });
  await awaitAnswer(order, ctx);
};

export default payment;
