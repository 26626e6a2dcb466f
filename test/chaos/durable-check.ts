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
 * - each takeover that resumed a run (its line "resumed after its recorded
 *   steps", `steps_done`) went on after every step `order_steps` had recorded
 *   ok for that run by then — rows whose `attempt` is at most the takeover's
 *   `recoveries` — and never ran one of them again;
 * - each step's external effect counted where it happens, not by its record:
 *   the vendor's and the courier service's books (`service_requests`) hold
 *   the effect of every such step recorded ok exactly once for its run — the
 *   steps `order_steps` recorded ok, and the latest run's when the order is
 *   on record `ok` — and no step's effect more than once per run, whoever
 *   ran it and however often (a step may run again after a takeover, and an
 *   instance paused past its lease may finish its copy late).
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

/** A request the vendor's or the courier service's books received (`service_requests`). */
export interface EffectRecord {
  readonly run: number;
  readonly step: string;
  readonly answer: 'applied' | 'duplicate' | 'stale';
}

/** The steps that act on a service of their own (the payment's effect is its charge, checked as money). */
export const ACTING_STEPS: readonly string[] = ['vendor', 'courier'];

/** What Postgres holds of one order at rest. */
export interface OrderBooks {
  /** Its latest run; null without a record. */
  readonly run: number | null;
  /** When its latest run ended, on the harness's clock (ms since the run began); null while it runs. */
  readonly finishedAtMs: number | null;
  /** Takeovers of its latest run. */
  readonly recoveries: number;
  readonly payments: readonly RunMoney[];
  readonly steps: readonly StepRecord[];
  /** Every request its steps sent the vendor and the courier service, of every run. */
  readonly effects: readonly EffectRecord[];
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

export type DurableViolationKind =
  'accepted_overdue' | 'charged_twice' | 'step_applied_twice' | 'effect_missing' | 'effect_applied_twice';

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

/**
 * Each step recorded ok — in `order_steps`, or in the latest run of an order on record `ok` (`recordedOk`) — has its
 * effect applied exactly once under its run; no step's effect is applied more than once under a run.
 */
export function checkEffectsOnce(books: OrderBooks, recordedOk: boolean): DurableFinding[] {
  const applied = new Map<string, number>();
  const keyOf = (run: number, step: string): string => `${step} of run ${run}`;
  for (const effect of books.effects)
    if (effect.answer === 'applied')
      applied.set(keyOf(effect.run, effect.step), (applied.get(keyOf(effect.run, effect.step)) ?? 0) + 1);
  const okSteps = new Set(
    books.steps
      .filter((row) => row.outcome === 'ok' && ACTING_STEPS.includes(row.step))
      .map((row) => keyOf(row.run, row.step)),
  );
  if (recordedOk && books.run !== null) for (const step of ACTING_STEPS) okSteps.add(keyOf(books.run, step));
  const findings: DurableFinding[] = [];
  for (const key of okSteps)
    if (!applied.has(key))
      findings.push({
        kind: 'effect_missing',
        message: `${key} recorded ok, yet its service's books hold no effect of it`,
      });
  for (const [key, times] of applied)
    if (times > 1)
      findings.push({
        kind: 'effect_applied_twice',
        message: `${key}: its service applied its effect ${times} times (${describeEffects(books.effects)})`,
      });
  return findings;
}

const describeEffects = (effects: readonly EffectRecord[]): string =>
  effects.map((effect) => `${effect.step} run ${effect.run} ${effect.answer}`).join('; ');

function seconds(ms: number): string {
  return `+${(ms / 1000).toFixed(3)}s`;
}
