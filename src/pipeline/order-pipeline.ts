/**
 * The order pipeline: every step of an order at once, first failure cancels
 * the rest, a deadline cancels them all, and the result is ready only when
 * every step has ended — the errgroup + context.WithTimeout of the Go service.
 *
 * Then, if the order failed, every step whose effect may stand is undone (a
 * payment is voided), before the answer. That is every step that succeeded,
 * and also every step whose request reached its remote service whatever it
 * reported — canceled mid-call, its thread lost, crashed: the remote service
 * may well have acted on it. A compensation must run although the order's
 * signal has fired — that is why it runs — so it gets a signal of its own
 * with a fresh deadline: Go's context.WithoutCancel plus a new
 * context.WithTimeout. It counts as done only if its own request was applied.
 */
import { abortKind, OrderAborted, type OrderFailureKind } from '../domain/errors.js';
import type { OrderRun } from '../domain/order.js';
import type { Trace } from '../domain/trace.js';
import type { StepDefinition, StepOutcome, StepRunner } from './steps.js';
import { runGroup, scopeOf } from './task-group.js';

export interface OrderResult {
  readonly orderId: string;
  /** One per step, in the order the steps were given. */
  readonly steps: readonly StepOutcome[];
  /** The compensations run because the order failed, in the order of their steps. */
  readonly compensations: readonly StepOutcome[];
  /**
   * Why the order failed — the first failure wins, unless undoing it failed
   * too (compensation_failed) — or undefined if every step succeeded.
   */
  readonly failure: OrderFailureKind | undefined;
}

/** What the pipeline tells whoever watches it, as it happens. */
export interface PipelineEvents {
  /** An order failed and an effect of it could not be undone: a person must look, whatever became of the client. */
  compensationFailed(run: OrderRun, compensations: readonly StepOutcome[], trace: Trace): void;
}

export interface OrderPipelineOptions {
  /** Deadline of an order, from the moment it starts. */
  readonly timeoutMs: number;
  /** Deadline of each compensation, from the moment it starts. */
  readonly compensationTimeoutMs: number;
  readonly events?: PipelineEvents;
}

/** A step whose effect may stand: it succeeded, or its request reached its remote service whatever it reported. */
const mayHaveActed = (outcome: StepOutcome): boolean => outcome.status === 'ok' || outcome.effect === 'applied';

/** A compensation undid its step: its remote service applied it (or, with no remote request, it succeeded). */
const undid = (outcome: StepOutcome): boolean => (outcome.effect === undefined ? outcome.status === 'ok' : outcome.effect === 'applied');

export class OrderPipeline {
  private inFlight = 0;

  constructor(
    private readonly steps: readonly StepDefinition[],
    private readonly runner: StepRunner,
    private readonly options: OrderPipelineOptions,
  ) {
    if (steps.length === 0) throw new Error('an order pipeline needs at least one step');
  }

  /** Orders whose steps or compensations are running. */
  get ordersInFlight(): number {
    return this.inFlight;
  }

  /**
   * Run every step of `run`. `signal` cancels the order from outside (its
   * clients went away); `trace` follows it into every thread for the logs.
   * Never rejects for a step's sake: failures are in the result.
   */
  async process(run: OrderRun, signal: AbortSignal, trace: Trace): Promise<OrderResult> {
    this.inFlight++;
    try {
      // The order's scope: its clients' signal, its deadline, and its first failure.
      using scope = scopeOf(signal, this.options.timeoutMs, () => new OrderAborted('timeout'));
      const { results, abortReason } = await runGroup(
        scope.controller,
        this.steps.map((step) => (stepSignal: AbortSignal) => this.runner.run(step, run, stepSignal, trace)),
        (outcome) => (outcome.status === 'error' ? new OrderAborted(outcome.kind ?? 'internal') : undefined),
      );
      // The deadline is the steps', not the compensations'.
      scope.release();
      const orderId = run.order.orderId;
      // A deadline that passes after the last step succeeded fails nothing.
      const failure = results.every((outcome) => outcome.status === 'ok') ? undefined : abortKind(abortReason);
      if (failure === undefined) return { orderId, steps: results, compensations: [], failure };
      const compensations = await this.compensate(run, results, trace);
      if (compensations.every(undid)) return { orderId, steps: results, compensations, failure };
      this.options.events?.compensationFailed(run, compensations, trace);
      return { orderId, steps: results, compensations, failure: 'compensation_failed' };
    } finally {
      this.inFlight--;
    }
  }

  /** Undo, at once, every step of a failed order whose effect may stand and that can be undone. */
  private compensate(run: OrderRun, outcomes: readonly StepOutcome[], trace: Trace): Promise<StepOutcome[]> {
    const toUndo = this.steps.flatMap((step, i) => (step.compensation && outcomes[i] && mayHaveActed(outcomes[i]) ? [step.compensation] : []));
    return Promise.all(
      toUndo.map(async (compensation) => {
        // Not the order's scope, which has fired: a fresh one (Go's context.WithoutCancel plus a new deadline).
        using deadline = scopeOf(null, this.options.compensationTimeoutMs, () => new OrderAborted('timeout'));
        return await this.runner.run(compensation, run, deadline.controller.signal, trace);
      }),
    );
  }
}
