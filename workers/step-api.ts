/**
 * What a step is, and what it sees. A step is a module whose default export is a `StepFunction`: an async function of
 * the order and this context. It runs inside a worker thread and knows nothing of HTTP, of the pipeline or of the pool.
 */
import type { Logger } from 'pino';
import { OutcomeError, type StepFailureKind } from '../src/domain/errors.js';
import type { Fault } from '../src/domain/faults.js';
import type { Order, StepName } from '../src/domain/order.js';

/**
 * The payment provider, as a step reaches it: like a remote API, a request leaves at once and carries this run's
 * idempotency key (the order id and the run); the provider's answer takes the step's delay to come back. What the
 * provider did is settled by the service itself once the step is over — whether or not the step lived to hear the
 * answer.
 */
export interface PaymentProvider {
  /** Ask for `amount` to be charged. `decline`: the provider's test card, always declined. */
  requestCharge(amount: number, options?: { readonly decline?: boolean }): void;
  /**
   * Ask for this run's payment to be voided: refunded if it was charged, refused if it is still to come. `refuse`: the
   * provider refuses.
   */
  requestVoid(options?: { readonly refuse?: boolean }): void;
}

/**
 * The remote service a step acts on besides the payment provider (the vendor, the courier service), as a step reaches
 * it: like a remote API, a request leaves at once and carries the run's key and the claim's fence
 * (src/ledger/service-books.ts). The service applies one request per key and refuses one whose fence is older than one
 * it has seen, so the step's effect stays single however often the step runs — again on another thread after its
 * thread was lost, again on another instance after a takeover. What the service did is settled by the service itself
 * once the step is over, whether or not the step lived to hear it.
 */
export interface ActedOnService {
  /** Ask for this step's effect, under the run's key and fence. */
  requestEffect(): void;
}

/** A run's key as every remote service is sent it: with the step, the idempotency key of what the step does there. */
export interface RunKey {
  readonly client: string;
  readonly orderId: string;
  readonly run: number;
}

export type LogLevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** A step's log: pino's level methods, each line bound to the step's task. */
export type StepLog = Pick<Logger, LogLevelName | 'isLevelEnabled'>;

export interface StepContext {
  /** The worker thread running the step (never the main thread). */
  readonly threadId: number;
  /** Aborted when the step's order is canceled, for code that takes an AbortSignal. */
  readonly signal: AbortSignal;
  /** Log lines from this step: they carry its request id, order id, step and thread. */
  readonly log: StepLog;
  isCanceled(): boolean;
  /**
   * Simulated I/O: resolves after `ms`, or throws StepCanceled as soon as the order is canceled. Holds no thread while
   * it waits.
   */
  sleep(ms: number): Promise<void>;
  /**
   * Real CPU work on this thread for about `ms`. Looks at the cancel cell at least every millisecond of work and lets
   * the other steps on this thread run every few milliseconds; throws StepCanceled when canceled.
   */
  compute(ms: number): Promise<void>;
  /**
   * Take a slot of the shared courier pool, waiting (without holding the thread) until one is free; throws StepCanceled
   * if canceled while waiting. Hold it with `using`, and it goes back when the block is left, however it is left. A
   * slot still held when the step ends is given back for it.
   */
  acquireCourier(): Promise<CourierSlot>;
  readonly paymentProvider: PaymentProvider;
  /** The service this step acts on: a step may run again after a takeover, and its effect must stay single. */
  readonly service: ActedOnService;
  /** The run's key, for a step that reaches a service of its own: a request under it must be applied once. */
  readonly runKey: RunKey;
  /**
   * The claim's fence of the run as this instance holds it, raised by every takeover: a service that has seen a higher
   * one must refuse this step's request (its instance was taken over, and the survivor runs the step again).
   */
  readonly fence: number;
  /**
   * Call `step`'s dependency (src/domain/dependencies.ts): `attempt` makes one call. When the dependency answers
   * unavailable (an outage), the call is made again — after a decorrelated-jitter backoff, while the step's retries
   * last (STEP_RETRIES) and the order's deadline leaves room for the backoff and one more call of about `expectedMs` —
   * unless `retry` is false (the order asked this step to fail). Throws DependencyUnavailable once no retry is left.
   */
  callDependency(
    step: StepName,
    attempt: (call: DependencyCall) => Promise<void>,
    options: { readonly retry: boolean; readonly expectedMs: number },
  ): Promise<void>;
  /** Milliseconds left before the order's deadline (Infinity when the task came with none). */
  remainingMs(): number;
}

/** One call to a step's dependency. */
export interface DependencyCall {
  /** 1 for the first call, 2 for the first retry… */
  readonly number: number;
  /**
   * False when an outage refused the call: nothing reaches the service — send it nothing (a payment sends no charge).
   */
  readonly reaches: boolean;
  /**
   * The service's answer: the step's own wait (`delayMs`, or the fault the order injects in its place), then the
   * outage's added latency; throws DependencyUnavailable if the call did not reach the service.
   */
  answer(delayMs: number, fault: Fault | undefined): Promise<void>;
}

/** A courier slot held by a step; releasing it twice is harmless. */
export interface CourierSlot extends Disposable {
  release(): void;
}

export type StepFunction = (order: Order, ctx: StepContext) => Promise<void>;

/** Thrown by a step that fails on purpose: its kind decides the order's outcome. */
export class StepFailure extends OutcomeError {
  constructor(readonly kind: StepFailureKind) {
    super(kind);
    this.name = 'StepFailure';
  }
}

/** Thrown when a step's dependency did not answer (an outage): a failure of the dependency, not of the order. */
export class DependencyUnavailable extends StepFailure {
  constructor(kind: StepFailureKind) {
    super(kind);
    this.name = 'DependencyUnavailable';
  }
}

/**
 * Thrown by a context used after its task has ended — by a promise the step left behind, say. Its cancel cell may
 * belong to another task by then.
 */
export class StepEnded extends Error {
  constructor() {
    super('step used its context after its task ended');
    this.name = 'StepEnded';
  }
}

/** Thrown by the context's waits when the order has been canceled. */
export class StepCanceled extends OutcomeError {
  constructor() {
    super('step canceled');
    this.name = 'StepCanceled';
  }
}
