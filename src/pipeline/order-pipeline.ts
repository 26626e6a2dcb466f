/**
 * The order pipeline: every step of an order at once, first failure cancels
 * the rest, a deadline cancels them all, and the result is ready only when
 * every step has ended — the errgroup + context.WithTimeout of the Go service.
 *
 * Then, if the order failed, every step that had succeeded and has a
 * compensation is undone (a payment is refunded), before the answer. A
 * compensation must run although the order's signal has fired — that is why
 * it runs — so it gets a signal of its own with a fresh deadline: Go's
 * context.WithoutCancel plus a new context.WithTimeout.
 */
import { abortKind, OrderAborted, type OrderFailureKind } from '../domain/errors.js';
import type { Order } from '../domain/order.js';
import type { Trace } from '../domain/trace.js';
import type { StepDefinition, StepOutcome, StepRunner } from './steps.js';
import { runGroup } from './task-group.js';

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

export interface OrderPipelineOptions {
  /** Deadline of an order, from the moment it starts. */
  readonly timeoutMs: number;
  /** Deadline of each compensation, from the moment it starts. */
  readonly compensationTimeoutMs: number;
}

export class OrderPipeline {
  /** One controller per order in flight, so they can all be stopped at shutdown. */
  private readonly inFlight = new Set<AbortController>();
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly steps: readonly StepDefinition[],
    private readonly runner: StepRunner,
    private readonly options: OrderPipelineOptions,
  ) {
    if (steps.length === 0) throw new Error('an order pipeline needs at least one step');
  }

  get ordersInFlight(): number {
    return this.inFlight.size;
  }

  /**
   * Run every step of `order`. `signal` cancels the order from outside (the
   * client went away); `trace` follows it into every thread for the logs.
   * Never rejects for a step's sake: failures are in the result.
   */
  async process(order: Order, signal: AbortSignal, trace: Trace): Promise<OrderResult> {
    const stop = new AbortController();
    this.inFlight.add(stop);
    try {
      const { results, abortReason } = await runGroup(
        [signal, stop.signal, AbortSignal.timeout(this.options.timeoutMs)],
        this.steps.map((step) => (stepSignal: AbortSignal) => this.runner.run(step, order, stepSignal, trace)),
        (outcome) => (outcome.status === 'error' ? new OrderAborted(outcome.kind ?? 'internal') : undefined),
      );
      // A deadline that passes after the last step succeeded fails nothing.
      const failure = results.every((outcome) => outcome.status === 'ok') ? undefined : abortKind(abortReason);
      if (failure === undefined) return { orderId: order.orderId, steps: results, compensations: [], failure };
      const compensations = await this.compensate(order, results, trace);
      const undone = compensations.every((outcome) => outcome.status === 'ok');
      return { orderId: order.orderId, steps: results, compensations, failure: undone ? failure : 'compensation_failed' };
    } finally {
      this.inFlight.delete(stop);
      if (this.inFlight.size === 0) this.wakeIdleWaiters();
    }
  }

  /** Undo, at once, every step of a failed order that succeeded and can be undone. */
  private compensate(order: Order, outcomes: readonly StepOutcome[], trace: Trace): Promise<StepOutcome[]> {
    const toUndo = this.steps.flatMap((step, i) => (outcomes[i]?.status === 'ok' && step.compensation ? [step.compensation] : []));
    return Promise.all(toUndo.map((compensation) => this.runner.run(compensation, order, AbortSignal.timeout(this.options.compensationTimeoutMs), trace)));
  }

  /** Cancel every order in flight with `kind` (at shutdown). They still end as usual, with their outcomes. */
  cancelAll(kind: OrderFailureKind): void {
    for (const stop of this.inFlight) stop.abort(new OrderAborted(kind));
  }

  /** Resolves when no order is in flight. */
  whenIdle(): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private wakeIdleWaiters(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
