/**
 * The contract between the pipeline and whatever runs steps. The pipeline knows steps only as names with a module to
 * run (Go's `[]order.Step`, injected at the composition root) and hands each to a StepRunner; it knows nothing of
 * threads, pools or HTTP.
 */
import type { CancelSignal } from '../domain/cancel-signal.js';
import type { DependencyVerdict } from '../domain/dependencies.js';
import type { OrderFailureKind } from '../domain/errors.js';
import type { ActionName, CompensationName, OrderRun, StepName } from '../domain/order.js';
import type { Trace } from '../domain/trace.js';

/** Something run on the worker pool for an order: a step or a compensation. */
export interface ActionDefinition<Name extends ActionName = ActionName> {
  readonly name: Name;
  /** URL of the module whose default export runs it. */
  readonly module: string;
}

export interface StepDefinition extends ActionDefinition<StepName> {
  /** What undoes the step when it succeeded but its order failed (a payment's refund). */
  readonly compensation?: ActionDefinition<CompensationName>;
}

/** The module of every step and compensation: all the code an order can run. */
export function modulesOf(steps: readonly StepDefinition[]): string[] {
  return steps.flatMap((step) => (step.compensation ? [step.module, step.compensation.module] : [step.module]));
}

export type StepStatus = 'ok' | 'error' | 'canceled';

/**
 * What became of the request a step sent to its remote service (a charge, a void), as that service knows it once the
 * step is over — whatever the step itself got to report. A step canceled mid-call, or whose thread died, may still have
 * charged: this is how the pipeline knows.
 */
export type StepEffect =
  | 'applied' // the service did it (charged; refunded or had nothing to refund)
  | 'refused'; // the service said no (declined; refused to refund)

/** How the loss of a step's thread shows in its outcome. */
export type ThreadFate =
  | 'terminated' // the main thread killed it: a step on it ignored cancellation past the grace period
  | 'died'; // it crashed, exited or ran out of memory

/**
 * A try of a step that did not end it: its thread was lost under it, and the step ran again on another. Its times are
 * counted from the step's dispatch, on no clock of its own: what a store records of it, wherever its clock is.
 */
export interface EarlierTry {
  /** The thread it was placed on; undefined if it reached none. */
  readonly threadId: number | undefined;
  readonly fate: ThreadFate;
  /** When it was handed to the pool, and when its thread's loss was known: ms after the step's dispatch. */
  readonly startedMs: number;
  readonly endedMs: number;
}

/**
 * One run of a step on the pool, on the main thread's clock (performance.now()): built from what the thread reported,
 * so it is known even when the thread died under it. For the order's trace.
 */
export interface AttemptTiming {
  /** Handed to the pool. */
  readonly postedAt: number;
  /** Taken up by its thread; undefined if it never was, or its thread died before it could say. */
  readonly startedAt?: number;
  readonly endedAt: number;
  readonly threadId?: number;
  /** Set when its thread was lost under it. */
  readonly threadFate?: ThreadFate;
  /** Its wait for a courier. */
  readonly courierWait?: { readonly from: number; readonly to: number };
}

/** When a step began and ended for its order, and each of its attempts (performance.now()). */
export interface StepTimeline {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly attempts: readonly AttemptTiming[];
}

export interface StepOutcome {
  readonly name: ActionName;
  readonly status: StepStatus;
  /** From dispatch to the end of the last attempt, as the order saw it (includes waiting for a thread or a courier). */
  readonly durationMs: number;
  /** The worker thread of the last attempt; undefined if the step never reached one. */
  readonly threadId: number | undefined;
  /** For status 'error': why the step failed. */
  readonly kind?: OrderFailureKind;
  /** For status 'canceled': what canceled it (the kind that ended the order). */
  readonly cause?: OrderFailureKind;
  /** Set when the step's thread was lost under it. */
  readonly threadFate?: ThreadFate;
  /** Runs of the step: more than 1 when its thread died under it and it ran again elsewhere. */
  readonly attempts: number;
  /** Its tries before the last (`attempts` - 1 of them): undefined when it ran once, or where none is kept. */
  readonly earlierTries?: readonly EarlierTry[] | undefined;
  /** Absent if the step sent its remote service no request. */
  readonly effect?: StepEffect;
  /**
   * What the step's dependency had to do with how it ended (see DependencyVerdict); `failed` on a canceled step only
   * when its order's deadline cut it. Absent: nothing to say of the dependency.
   */
  readonly dependency?: DependencyVerdict;
  /** Calls to its dependency made again after it answered unavailable (a partial outage); absent when none. */
  readonly retries?: number;
}

/**
 * Told of every step and compensation as it ends, with when it ran: what the order's trace is built from, on the main
 * thread, after the fact — so a step's span survives its thread's death, and is parented by its order's trace rather
 * than by whatever pool task carried it. Implemented outside (src/tracing/); the pipeline only passes it on.
 */
export interface StepRecorder {
  /** Whether the order of `trace` is recorded at all: if not, the runner keeps no timings for it. */
  records(trace: Trace): boolean;
  stepEnded(trace: Trace, run: OrderRun, outcome: StepOutcome, timeline: StepTimeline): void;
}

/**
 * Told of each step of an order's run as it ends, before the order goes on: a durable store records it, so that a run
 * taken over after its instance was lost resumes after its finished steps instead of running them again. The order's
 * answer waits for every record. Never rejects: a step whose record is lost only runs again on a resume, toward its
 * remote service under the same idempotency key.
 */
export interface StepJournal {
  /** Its record on its way; undefined when the journal keeps nothing of the run (then nothing is waited for). */
  stepEnded(run: OrderRun, outcome: StepOutcome): Promise<void> | undefined;
}

/** One step of an order's run, for a StepRunner. */
export interface StepRun {
  readonly step: ActionDefinition;
  readonly run: OrderRun;
  /** Cancels the step: its order's. */
  readonly signal: CancelSignal;
  /** Follows the step into its thread, for the logs and the order's trace. */
  readonly trace: Trace;
  /**
   * When `signal` will abort for want of time (the order's deadline, or a compensation's own), on this thread's
   * performance.now() clock: a step decides by it whether a retry still fits.
   */
  readonly deadline: number;
}

export interface StepRunner {
  /**
   * Run one step of an order's run until it ends or its signal cancels it. Never rejects: every ending, including a
   * dead thread, is an outcome. Resolves only once nothing of the step is running any more, and what it asked of its
   * remote service is known (its effect).
   */
  run(step: StepRun): Promise<StepOutcome>;
  /**
   * Undefined while the runner can start a step at once; else settled once it can (the thread that takes the place of a
   * lost one has started). A runner without it always can.
   */
  whenReady?(): Promise<void> | undefined;
}
