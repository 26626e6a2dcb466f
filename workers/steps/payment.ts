/**
 * Charges the order. The charge request reaches the payment provider as the
 * step starts; the provider's answer takes delay_ms.payment. With
 * fail_step "payment" the order pays with the provider's test card that is
 * always declined: nothing is charged, and the step fails with
 * payment_declined. A call an outage refuses sends no charge; one made again
 * carries the same idempotency key (the order id and its run), so the
 * provider's books keep one charge however many calls reached it.
 */
import { simulatedStep } from './simulated-step.js';

export default simulatedStep('payment', 'payment_declined', (order, ctx) =>
  ctx.paymentProvider.requestCharge(order.amount, { decline: order.failStep === 'payment' }),
);
