/**
 * Assigns a courier. Couriers are few and shared by every thread, so the step
 * first takes a slot of the courier pool — waiting, if all are busy, without
 * holding its thread — and keeps it until the assignment is done, through
 * the courier service's retries if it answers unavailable. Its duration
 * includes that wait. The assignment is the courier service's effect, taken
 * as its call is answered, once per run however often the step runs
 * (simulated-step.ts). Fails with no_courier when the order asks it to, or
 * when the courier service is unavailable.
 */
import { simulatedStep } from './simulated-step.js';

export default simulatedStep('courier', 'no_courier', undefined, { holdsCourier: true });
