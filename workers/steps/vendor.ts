/** Notifies the vendor. Fails with vendor_unavailable when the order asks it to. */
import { simulatedStep } from './simulated-step.js';

export default simulatedStep('vendor', 'vendor_unavailable');
