/**
 * The promises of an order accepted now and finished later, resumed after
 * its instance was lost (pure, like checker.ts), against what Postgres holds
 * of its runs at rest and what the takeovers said:
 * - an order answered 202 ends — succeeded, failed, canceled, interrupted or
 *   dead_lettered — within its deadline (`deadline_ms`, or ORDER_TIMEOUT_MS)
 *   plus the recovery window, counted from the 202;
 * - charged once: at most one of its runs holds money at the provider (a
 *   run is the provider's idempotency key; a resume keeps its run), no run
 *   holds more than the amount, and the order holds no more than its amount
 *   in all;
 * - no step's effect applied twice across resumes. The vendor's and the
 *   courier's calls leave nothing outside the service, so what is checked is
 *   what the service records of them: each takeover that resumed a run (its
 *   line "resumed after its recorded steps", `steps_done`) went on after
 *   every step `order_steps` had recorded ok for that run by then — rows
 *   whose `attempt` is at most the takeover's `recoveries` — and never ran
 *   one of them again. `order_steps` itself keeps one row per step of a run
 *   and never records over an ok one (its key and its statement).
 */
import type { Attempt, OrderBody } from './history.js';
import { readAnswer } from './answers.js';

/** One run's books at the provider. */
export interface RunMoney {
  readonly run: number;
  readonly charged: number;
  readonly refunded: number;
}

/** A row of `order_steps`. */
export interface StepRecord {
  readonly run: number;
  readonly step: string;
  /** The takeover it was recorded in (1: the run's first instance). */
  readonly attempt: number;
  readonly outcome: string;
}

/** What Postgres holds of one order at rest. */
export interface OrderBooks {
  /** When its latest run ended, on the harness's clock (ms since the run began); null while it runs. */
  readonly finishedAtMs: number | null;
  /** Takeovers of its latest run. */
  readonly recoveries: number;
  readonly payments: readonly RunMoney[];
  readonly steps: readonly StepRecord[];
}

/** A takeover that resumed a run, as its instance's line tells it. */
export interface Takeover {
  readonly orderId: string;
  readonly run: number;
  /** The run's takeovers, this one included. */
  readonly recoveries: number;
  /** Steps it resumed after: those it found recorded ok. */
  readonly stepsDone: number;
  readonly atMs: number;
}

export type DurableViolationKind = 'accepted_overdue' | 'charged_twice' | 'step_applied_twice';

export interface DurableFinding {
  readonly kind: DurableViolationKind;
  readonly message: string;
  readonly atMs?: number;
}

export interface DurableLimits {
  /** The instances' ORDER_TIMEOUT_MS: the deadline of an order that asks for none. */
  readonly orderTimeoutMs: number;
  /** How long after its deadline an accepted order may still end: a loss noticed, taken over, its money undone. */
  readonly recoveryWindowMs: number;
}

/** An order answered 202 has ended by its deadline, counted from that answer, plus the recovery window. */
export function checkAcceptedInTime(
  body: OrderBody,
  attempts: readonly Attempt[],
  books: OrderBooks,
  limits: DurableLimits,
): DurableFinding[] {
  const accepted = attempts
    .filter((attempt) => readAnswer(attempt.end)?.kind === 'accepted')
    .sort((a, b) => a.endedMs - b.endedMs)[0];
  // Still running at rest is left_running's; never accepted, no such promise.
  if (!accepted || books.finishedAtMs === null) return [];
  const deadlineMs = body.deadline_ms ?? limits.orderTimeoutMs;
  // Its run began before the 202 was heard: its deadline passed by then plus deadline_ms.
  const due = accepted.endedMs + deadlineMs + limits.recoveryWindowMs;
  if (books.finishedAtMs <= due) return [];
  return [
    {
      kind: 'accepted_overdue',
      atMs: books.finishedAtMs,
      message: `answered 202 at ${seconds(accepted.endedMs)} with a deadline of ${deadlineMs} ms, due by ${seconds(due)} with the recovery window, ended at ${seconds(books.finishedAtMs)}`,
    },
  ];
}

/** At most one run holds money, none more than the amount, the order no more than its amount in all. */
export function checkChargedOnce(body: OrderBody, books: OrderBooks): DurableFinding[] {
  const holding = books.payments.filter((run) => run.charged > run.refunded);
  const net = books.payments.reduce((sum, run) => sum + run.charged - run.refunded, 0);
  const overcharged = books.payments.filter((run) => run.charged > body.amount);
  if (holding.length <= 1 && overcharged.length === 0 && net <= body.amount) return [];
  const runs = books.payments.map((run) => `run ${run.run}: charged ${run.charged}, refunded ${run.refunded}`);
  return [
    {
      kind: 'charged_twice',
      message: `amount ${body.amount}, yet ${holding.length} runs hold money, net ${net} (${runs.join('; ')})`,
    },
  ];
}

/** Every takeover resumed after each step recorded ok of its run by then: none of them ran again. */
export function checkStepsOnce(books: OrderBooks, takeovers: readonly Takeover[]): DurableFinding[] {
  return takeovers.flatMap((takeover) => {
    const recorded = books.steps.filter(
      (row) => row.run === takeover.run && row.outcome === 'ok' && row.attempt <= takeover.recoveries,
    );
    if (takeover.stepsDone >= recorded.length) return [];
    return [
      {
        kind: 'step_applied_twice' as const,
        atMs: takeover.atMs,
        message: `takeover ${takeover.recoveries} of run ${takeover.run} resumed after ${takeover.stepsDone} steps, but ${recorded.map((row) => row.step).join(', ')} had been recorded ok by then: ${recorded.length - takeover.stepsDone} ran again`,
      },
    ];
  });
}

function seconds(ms: number): string {
  return `+${(ms / 1000).toFixed(3)}s`;
}
