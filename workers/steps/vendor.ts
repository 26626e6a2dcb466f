/**
 * Notifies the vendor, which takes the order as its call is answered: once per run, however often the step runs
 * (simulated-step.ts). Fails with vendor_unavailable when the order asks it to.
 */
import { simulatedStep } from './simulated-step.js';

export default simulatedStep('vendor', 'vendor_unavailable');
