/**
 * An order as the pipeline and its steps see it: decoded, validated, with
 * every default filled in. Plain data, so it crosses into worker threads by
 * structured clone unchanged.
 */
import type { Faults } from './faults.js';
import { isCompensation, type ActionName, type PerAction, type PerStep, type StepName } from './steps.js';

export { ACTION_NAMES, COMPENSATION_NAMES, DEFAULT_DELAY_MS, STEP_NAMES } from './steps.js';
export type { ActionName, CompensationName, PerAction, PerStep, StepName } from './steps.js';

/** An order id's length at most, in UTF-16 code units: what a record is sized for. */
export const MAX_ORDER_ID_LENGTH = 128;

export interface Order {
  readonly orderId: string;
  readonly amount: number;
  /** The step told to fail after its delay, if any. */
  readonly failStep: StepName | undefined;
  /** Whether the refund of this order's payment is told to fail (to exercise that path). */
  readonly failCompensation: boolean;
  /** Simulated I/O wait per step and compensation; 0 means no wait. */
  readonly delayMs: PerAction<number>;
  /** CPU work per step, computed (not slept) on the step's thread. */
  readonly cpuMs: PerStep<number>;
  /** Faults injected into its steps (only with FAULT_INJECTION=on); absent or empty: none. */
  readonly faults?: Faults;
}

/** The CPU work an action asks for: compensations compute nothing. */
export function cpuMsOf(order: Order, action: ActionName): number {
  return isCompensation(action) ? 0 : order.cpuMs[action];
}

/**
 * One execution of an order. A retry after an outcome that is not final (a
 * timeout, a client that left) is a new run, numbered from 1; a step run again
 * on another thread after its thread was lost is still the same run. The
 * payment provider's idempotency key is the order id and the run.
 */
export interface OrderRun {
  readonly order: Order;
  /**
   * Which run this is: with the order id, the payment provider's idempotency
   * key. 1, 2, … per order in memory; in Postgres drawn from one sequence
   * for all orders (GET /orders/{id} counts an order's runs apart, `runs`).
   */
  readonly runNumber: number;
}
