/** Charges the order. Fails with payment_declined when the order asks it to. */
import { simulatedStep } from './simulated-step.js';

export default simulatedStep('payment', 'payment_declined');
