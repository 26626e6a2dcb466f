/**
 * The order pipeline: every step of an order at once, first failure cancels the rest, a deadline cancels them all, and
 * the result is ready only when every step has ended — the errgroup + context.WithTimeout of the Go service.
 *
 * Then, if the order failed, every step whose effect may stand is undone (a payment is voided), before the answer. That
 * is every step that succeeded, and also every step whose request reached its remote service whatever it reported —
 * canceled mid-call, its thread lost, crashed: the remote service may well have acted on it. A compensation must run
 * although the order's signal has fired — that is why it runs — so it gets a signal of its own with a fresh deadline:
 * Go's context.WithoutCancel plus a new context.WithTimeout. It counts as done only if its own request was applied.
 *
 * A compensation that ended without its remote service having answered it — its thread lost twice, its deadline passed
 * before its request left — is not a refusal: it is handed to its fallback (the main thread asks the service itself,
 * and keeps asking until the service answers). Only a compensation the service *refused* fails the order
 * compensation_failed; one the fallback still keeps at leaves the order's own failure standing.
 */
import { abortKind, OrderAborted, RunHandedOver, type OrderFailureKind } from '../domain/errors.js';
import type { CompensationName, OrderRun } from '../domain/order.js';
import type { Tier } from '../domain/tier.js';
import type { Trace } from '../domain/trace.js';
import type { ActionDefinition, StepDefinition, StepEffect, StepJournal, StepOutcome, StepRunner } from './steps.js';
import { DeadlineList } from './deadline-list.js';
import { DeadlineLists } from './deadline-lists.js';
import { OrderInFlight, type RunStopper } from './order-in-flight.js';
import { scopeOf, settlesWithin } from './task-group.js';

export interface OrderResult {
  readonly orderId: string;
  /** One per step, in the order the steps were given. */
  readonly steps: readonly StepOutcome[];
  /** The compensations run because the order failed, in the order of their steps. */
  readonly compensations: readonly StepOutcome[];
  /**
   * Why the order failed — the first failure wins, unless undoing it failed too (compensation_failed) — or undefined if
   * every step succeeded.
   */
  readonly failure: OrderFailureKind | undefined;
  /**
   * The failure came from a dependency (a step answered unavailable by an outage), not from anything the order asked
   * for: it passes, so it is not replayed, and a retry runs the order afresh.
   */
  readonly failedByDependency?: true;
  /** The tier its run ran at, kept with an answer recorded to be replayed (a replay's Order-Tier says it). */
  readonly tier?: Tier;
  /**
   * Stopped at a graceful stop to run on elsewhere (RunHandedOver): nothing was undone, and nothing is to be recorded
   * here — its run is handed over as it is.
   */
  readonly handedOver?: true;
}

/**
 * Takes a compensation over when it ended on the worker pool without its remote service having answered it: asks the
 * service directly. Resolves with the service's answer (`applied`, `refused`), or `pending` if the service cannot be
 * asked now — then the fallback keeps asking, in the background, until it answers.
 */
export interface CompensationFallback {
  /** `trace`: the order's, so that every log line about the order — the background's included — names its trace. */
  takeOver(run: OrderRun, trace: Trace): Promise<StepEffect | 'pending'>;
}

export interface OrderPipelineOptions {
  /** Deadline of an order, from the moment it starts. */
  readonly timeoutMs: number;
  /** Deadline of each compensation, from the moment it starts. */
  readonly compensationTimeoutMs: number;
  /**
   * By compensation: what takes it over when its run on the pool ends unanswered. Without one, such a compensation
   * fails its order.
   */
  readonly compensationFallbacks?: Readonly<Partial<Record<CompensationName, CompensationFallback>>>;
  /** Where each step's end is recorded (durable mode); without one, nothing is. */
  readonly journal?: StepJournal;
  /** How long a compensation waits for a thread to start at most, beside `timeoutMs`; THREAD_START_MS unless given. */
  readonly threadStartMs?: number;
}

/** A compensation as it ended, and whether its step's effect is (or will be) undone. */
interface Compensated {
  readonly outcome: StepOutcome;
  readonly undone: boolean;
}

/**
 * How long a thread taking a lost one's place may take to start, at most: beside four busy loops on two cores, 300 ms
 * was too little (a refund after an order of 300 ms lost its thread was handed to its fallback in 5 of 6 such orders).
 */
const THREAD_START_MS = 5000;

/** A step whose effect may stand: it succeeded, or its request reached its remote service whatever it reported. */
const mayHaveActed = (outcome: StepOutcome): boolean => outcome.status === 'ok' || outcome.effect === 'applied';

/**
 * A run another instance began and lost, taken over here (forward recovery, or the admin's redrive). `finished`: its
 * steps that ended ok before it was taken over — they stand as recorded and are not run again.
 *
 * Such a run is settled as a whole. A charge leaves as its step starts, long before its end is recorded, so the lost
 * attempt may have charged under the run's key with nothing on record; this attempt's outcomes cannot say whether it
 * did. If the run fails or is canceled, every step with a compensation is undone, whatever this attempt did — a void
 * is idempotent under the run's key, and refuses a charge still on its way.
 */
export interface TakenOver {
  readonly finished: readonly StepOutcome[];
}

/** A compensation undid its step: its remote service applied it (or, with no remote request, it succeeded). */
const undid = (outcome: StepOutcome): boolean =>
  outcome.effect === undefined ? outcome.status === 'ok' : outcome.effect === 'applied';

export class OrderPipeline {
  private inFlight = 0;
  /** Every order's deadline, judged from one timer; an order's own (`deadline_ms`), from one list per span. */
  private readonly deadlines = new DeadlineList<OrderInFlight>();
  private readonly ownDeadlines = new DeadlineLists<OrderInFlight>();

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
   * Run every step of `run` at once; the first to fail cancels the others, and so does the deadline. `signal` cancels
   * the order from outside (its clients went away, a shutdown): an AbortSignal, or a run's stopper, which needs no
   * controller of its own; `trace` follows it into every thread for the logs. Resolves once every step has ended —
   * never at the first failure, so nothing started for the order still runs — and, if the order failed, once what stood
   * is undone. Never rejects for a step's sake: failures are in the result. `takenOver`: the run was begun by an
   * instance that was lost (TakenOver says what that changes).
   */
  async process(
    run: OrderRun,
    signal: AbortSignal | RunStopper,
    trace: Trace,
    takenOver?: TakenOver,
  ): Promise<OrderResult> {
    this.inFlight++;
    try {
      const span = run.order.deadlineMs ?? this.options.timeoutMs;
      const deadline = performance.now() + span;
      const deadlines = span === this.options.timeoutMs ? this.deadlines : this.ownDeadlines.of(span);
      const order = new OrderInFlight(signal, deadlines, deadline);
      let ended: PromiseSettledResult<StepOutcome>[];
      try {
        ended = await Promise.allSettled(
          this.steps.map((step) => this.runStep(step, run, order, trace, deadline, takenOver?.finished)),
        );
      } finally {
        // The deadline is the steps', not the compensations'.
        order.release();
      }
      const threw = ended.find((settled) => settled.status === 'rejected');
      if (threw) throw threw.reason;
      const steps = ended.map((settled) => (settled as PromiseFulfilledResult<StepOutcome>).value);
      const orderId = run.order.orderId;
      // A deadline that passes after the last step succeeded fails nothing.
      if (steps.every((outcome) => outcome.status === 'ok'))
        return { orderId, steps, compensations: [], failure: undefined };
      // Stopped to run on elsewhere under the same run: nothing is undone, the payment least of all — the run that goes
      // on charges under the same key, and the provider finds the charge made here, so it is made once.
      if (order.reason instanceof RunHandedOver)
        return { orderId, steps, compensations: [], failure: 'shutting_down', handedOver: true };
      return await this.failed(run, steps, abortKind(order.reason), trace, takenOver !== undefined);
    } finally {
      this.inFlight--;
    }
  }

  /**
   * One step of the order, as a goroutine of its errgroup: its failure cancels the order's other steps, and its end is
   * recorded (durable mode) before the order goes on. A step that ended ok before its run was taken over stands as
   * recorded. A runner that throws (a bug) cancels the order too, and the order rejects once every step has ended.
   */
  private async runStep(
    step: StepDefinition,
    run: OrderRun,
    order: OrderInFlight,
    trace: Trace,
    deadline: number,
    finished: readonly StepOutcome[] | undefined,
  ): Promise<StepOutcome> {
    const recorded = finished?.find((done) => done.name === step.name);
    if (recorded) return recorded;
    let outcome: StepOutcome;
    try {
      outcome = await this.runner.run({ step, run, signal: order, trace, deadline });
    } catch (error) {
      order.abort(error);
      throw error;
    }
    if (outcome.status === 'error') order.abort(new OrderAborted(outcome.kind ?? 'internal'));
    // Stopped to be handed over: it runs again where the run goes on, and the claim there says it was under way here.
    if (this.options.journal && !(outcome.status === 'canceled' && order.reason instanceof RunHandedOver))
      await this.options.journal.stepEnded(run, outcome);
    return outcome;
  }

  /**
   * Undo what the steps of a run that has ended did, as for a failed order, and fail it with `failure`: a run that
   * succeeded but was canceled before its success could be recorded. Every step of it succeeded: each is undone.
   */
  undo(run: OrderRun, steps: readonly StepOutcome[], failure: OrderFailureKind, trace: Trace): Promise<OrderResult> {
    return this.failed(run, steps, failure, trace, false);
  }

  /** A failed order's result, once every step of it whose effect may stand is undone. */
  private async failed(
    run: OrderRun,
    steps: readonly StepOutcome[],
    failure: OrderFailureKind,
    trace: Trace,
    takenOver: boolean,
  ): Promise<OrderResult> {
    const orderId = run.order.orderId;
    const compensated = await this.compensate(run, steps, trace, takenOver);
    const compensations = compensated.map(({ outcome }) => outcome);
    if (!compensated.every(({ undone }) => undone))
      return { orderId, steps, compensations, failure: 'compensation_failed' };
    // The failure's kind names its step: vendor_unavailable can only be the vendor's.
    const byDependency = steps.some(
      (outcome) => outcome.status === 'error' && outcome.kind === failure && outcome.dependency === 'failed',
    );
    return {
      orderId,
      steps,
      compensations,
      failure,
      ...(byDependency ? { failedByDependency: true as const } : {}),
    };
  }

  /**
   * Undo, at once, every step of a failed order whose effect may stand and that can be undone: of a run taken over,
   * every step that can be (TakenOver).
   */
  private compensate(
    run: OrderRun,
    outcomes: readonly StepOutcome[],
    trace: Trace,
    takenOver: boolean,
  ): Promise<Compensated[]> {
    const toUndo = this.steps.flatMap((step, i) =>
      step.compensation && outcomes[i] && (takenOver || mayHaveActed(outcomes[i])) ? [step.compensation] : [],
    );
    return Promise.all(toUndo.map((compensation) => this.compensateOne(compensation, run, trace)));
  }

  private async compensateOne(
    compensation: ActionDefinition<CompensationName>,
    run: OrderRun,
    trace: Trace,
  ): Promise<Compensated> {
    const outcome = await this.runOnPool(compensation, run, trace);
    if (undid(outcome)) return { outcome, undone: true };
    // The service said no: nothing else will make it say yes.
    if (outcome.effect === 'refused') return { outcome, undone: false };
    const fallback = this.options.compensationFallbacks?.[compensation.name];
    if (!fallback) return { outcome, undone: false };
    const taken = await fallback.takeOver(run, trace);
    if (taken === 'pending') return { outcome, undone: true };
    return { outcome: { ...outcome, effect: taken }, undone: taken === 'applied' };
  }

  private async runOnPool(
    compensation: ActionDefinition<CompensationName>,
    run: OrderRun,
    trace: Trace,
  ): Promise<StepOutcome> {
    // Its deadline is its own run's, from when the runner can start it. A compensation often follows a thread lost under
    // its order, and the one that takes that thread's place may still be starting: a pool of one thread has none until
    // then. The wait for it is the thread's start, which owes nothing to the order's deadline: bounded by the longer of
    // that deadline and the time a thread may take to start, past which the compensation has not begun and its fallback takes it over.
    const since = performance.now();
    const starting = this.runner.whenReady?.();
    const ready =
      !starting ||
      (await settlesWithin(starting, Math.max(this.options.timeoutMs, this.options.threadStartMs ?? THREAD_START_MS)));
    const waitedMs = Math.round(performance.now() - since);
    if (!ready)
      return {
        name: compensation.name,
        status: 'canceled',
        cause: 'timeout',
        durationMs: waitedMs,
        threadId: undefined,
        attempts: 0,
      };
    // Not the order's scope, which has fired: a fresh one (Go's context.WithoutCancel plus a new deadline).
    const deadline = performance.now() + this.options.compensationTimeoutMs;
    using scope = scopeOf(null, this.options.compensationTimeoutMs, () => new OrderAborted('timeout'));
    const outcome = await this.runner.run({
      step: compensation,
      run,
      signal: scope.controller.signal,
      trace,
      deadline,
    });
    return waitedMs === 0 ? outcome : { ...outcome, durationMs: outcome.durationMs + waitedMs };
  }
}
