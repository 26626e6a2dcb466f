/**
 * An order as the pipeline and its steps see it: decoded, validated, with
 * every default filled in. Plain data, so it crosses into worker threads by
 * structured clone unchanged.
 */
import type { Faults } from './faults.js';

/** An order id's length at most, in UTF-16 code units: what a record is sized for. */
export const MAX_ORDER_ID_LENGTH = 128;

export const STEP_NAMES = ['payment', 'vendor', 'courier'] as const;
export type StepName = (typeof STEP_NAMES)[number];

/** Compensations undo a step that succeeded when its order as a whole failed (a saga's compensating actions). */
export const COMPENSATION_NAMES = ['refund'] as const;
export type CompensationName = (typeof COMPENSATION_NAMES)[number];

/** Everything an order runs on the worker pool: its steps, and its compensations if it fails. */
export type ActionName = StepName | CompensationName;
export const ACTION_NAMES = [...STEP_NAMES, ...COMPENSATION_NAMES] as const;

export type PerStep<T> = Readonly<Record<StepName, T>>;
export type PerAction<T> = Readonly<Record<ActionName, T>>;

/** Simulated I/O latency when the order does not say (the steps' are the Go service's defaults). */
export const DEFAULT_DELAY_MS: PerAction<number> = { payment: 150, vendor: 200, courier: 100, refund: 50 };

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
  return action === 'refund' ? 0 : order.cpuMs[action];
}

/**
 * One execution of an order. A retry after an outcome that is not final (a
 * timeout, a client that left) is a new run, numbered from 1; a step run again
 * on another thread after its thread was lost is still the same run. The
 * payment provider's idempotency key is the order id and the run.
 */
export interface OrderRun {
  readonly order: Order;
  readonly run: number;
}
