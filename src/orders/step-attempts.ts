/**
 * Where an order's steps ran, attempt by attempt, as the store recorded each
 * (with DATABASE_URL: `order_steps`, `order_step_tries`): the instance and
 * thread, when it began and ended, how it ended, and whether its run had been
 * taken over by then — with the order's own deadline, if it sent one, and
 * when its latest run began. Besides each step's last try: the tries whose
 * thread was lost under it before it ran again, and the steps whose instance
 * was lost before their end was recorded. What an operator reads to see an
 * order's steps run again on another thread or instance. A store that
 * records no step (in memory) has none.
 */
import type { OrderKey } from '../domain/order.js';

/**
 * How an attempt ended: the step's own status (its last try); `thread_died` / `thread_terminated`, its thread lost
 * under it, and the step ran again; `lost`, its instance lost before its end was recorded (under way there, or ended
 * unrecorded), recorded by the recovery that took its run over.
 */
export const ATTEMPT_OUTCOMES = ['ok', 'error', 'canceled', 'thread_died', 'thread_terminated', 'lost'] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

export interface StepAttempt {
  readonly step: string;
  /** The run it ran in, as the order's events name it. */
  readonly run: number;
  /** How many times its run had been taken over from a lost instance when it ended: 0 on the one that began it. */
  readonly takeovers: number;
  /** Its worker thread; undefined if it reached none, or it is not known (`lost`). */
  readonly threadId: number | undefined;
  readonly instance: string;
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly outcome: AttemptOutcome;
}

export interface RecordedAttempts {
  /** Oldest first; a step carried into a redriven run is one attempt, listed once (in the run it ran in). */
  readonly attempts: readonly StepAttempt[];
  /** The deadline the order sent (deadline_ms), if it sent one: undefined when it runs on the service's. */
  readonly ownDeadlineMs: number | undefined;
  /** When its latest run began: where its deadline is counted from. */
  readonly runStartedAt: Date;
}

export interface StepAttempts {
  /** Undefined when the store has no record of the order. */
  of(key: OrderKey): Promise<RecordedAttempts | undefined>;
}
