/**
 * An order as the pipeline and its steps see it: decoded, validated, with
 * every default filled in. Plain data, so it crosses into worker threads by
 * structured clone unchanged.
 */

export const STEP_NAMES = ['payment', 'vendor', 'courier'] as const;
export type StepName = (typeof STEP_NAMES)[number];

export type PerStep<T> = Readonly<Record<StepName, T>>;

/** Simulated I/O latency of each step when the order does not say (the Go service's defaults). */
export const DEFAULT_DELAY_MS: PerStep<number> = { payment: 150, vendor: 200, courier: 100 };

export interface Order {
  readonly orderId: string;
  readonly amount: number;
  /** The step told to fail after its delay, if any. */
  readonly failStep: StepName | undefined;
  /** Simulated I/O wait per step; 0 means no wait. */
  readonly delayMs: PerStep<number>;
  /** CPU work per step, computed (not slept) on the step's thread. */
  readonly cpuMs: PerStep<number>;
}
