/**
 * Assigns a courier. Couriers are few and shared by every thread, so the step
 * first takes a slot of the courier pool — waiting, if all are busy, without
 * holding its thread — and keeps it until the assignment is done, through
 * the courier service's retries if it answers unavailable. Its duration
 * includes that wait. Fails with no_courier when the order asks it to, or
 * when the courier service is unavailable.
 */
import type { StepFunction } from '../step-api.js';
import { simulatedStep } from './simulated-step.js';

const assign = simulatedStep('courier', 'no_courier');

const courier: StepFunction = async (order, ctx) => {
  using _courier = await ctx.acquireCourier();
  await assign(order, ctx);
};

export default courier;
