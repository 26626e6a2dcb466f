/**
 * A run the order desk has under way in this process (src/orders/order-desk.ts), and its callers: a record, told when
 * a caller leaves and when the records take the order_id as its order's (no closure of its own for either). `End`:
 * what its callers are told as it ends.
 */
import { OrderAborted } from '../domain/errors.js';
import type { AdmissionPolicy } from './admission.js';
import type { WaiterListener } from './order-waiter.js';
import { RunStop } from './run-stop.js';

export class Run<End> implements WaiterListener {
  /** Waiting for its end now. */
  callers = 0;
  /**
   * The records have taken the order_id as this order's: until then, another order under the same id cannot be told it
   * is the one refused.
   */
  confirmed = false;
  /** Settled with how the run ended; set as it starts. */
  end!: Promise<End>;
  /** Cancels the run once every caller waiting for it has gone, or at shutdown. */
  readonly stop = new RunStop();
  /** Begun in the records, here or on another instance; and its steps run here (not a wait for another's run). */
  private underWay = false;
  runsHere = false;
  /**
   * Another instance could run it on from its recorded steps (its order has a deadline of its own, kept with its
   * record): at a graceful stop it is handed over rather than canceled.
   */
  handsOver = false;
  /** Callers to tell once it is under way; absent: none (most callers wait for the end alone). */
  private toldUnderWay: AdmissionPolicy[] | undefined;

  constructor(readonly fingerprint: string) {}

  /** A caller waiting for it has gone: the last one stops it. */
  waiterLeft(): void {
    if (--this.callers === 0) this.stop.stop(new OrderAborted('client_gone'));
  }

  /** Tell `policy` once the run is under way: now, if it is. */
  tellUnderWay(policy: AdmissionPolicy): void {
    if (this.underWay) policy.runUnderWay?.();
    else (this.toldUnderWay ??= []).push(policy);
  }

  /** The run is under way, here or elsewhere: whoever asked is told, once. */
  begun(here: boolean): void {
    this.runsHere = here;
    if (this.underWay) return;
    this.underWay = true;
    for (const policy of this.toldUnderWay ?? []) policy.runUnderWay?.();
    this.toldUnderWay = undefined;
  }
}
