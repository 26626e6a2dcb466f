/**
 * A step task's calls to its dependency: each drawn against the dependency's simulated outage (shared memory, switched
 * by the admin), and made again after an unavailable answer — a partial outage — with decorrelated-jitter backoff
 * (cockatiel's), while the step's retries last and the order's deadline leaves room for the backoff and one more call.
 *
 * Only cockatiel's backoff, not its RetryPolicy: the policy waits between attempts on a plain timer that no AbortSignal
 * reaches, so a canceled step would sit out its backoff — past CANCEL_GRACE_MS, and its thread would be terminated for
 * it — and it knows nothing of the order's deadline. Here each backoff is the context's sleep: it wakes the moment the
 * order is canceled, and shows on the thread view as sleeping.
 *
 * It also keeps what the step's report says of the dependency: whether its last call was answered, or the dependency
 * failed the step (an unavailable answer, or a cancellation that came while the step waited out the dependency's added
 * latency or a backoff — which the main thread counts only if the order's deadline was the cause). A cut during the
 * latency is the dependency's only for its part of the wait: counted when the dependency had made the step wait at
 * least as long as the order's own delay_ms did, nothing otherwise — an order that asks for a delay just short of its
 * deadline is cut by its own request, not by a dependency a few hundred milliseconds slow.
 */
import { decorrelatedJitterGenerator, ExponentialBackoff, type IBackoff } from 'cockatiel';
import { DEPENDENCY_OF_STEP, type DependencyName, type DependencyVerdict } from '../src/domain/dependencies.js';
import type { StepFailureKind } from '../src/domain/errors.js';
import type { Fault } from '../src/domain/faults.js';
import type { StepName } from '../src/domain/order.js';
import type { CallDraw, DependencyOutages } from '../src/shared-memory/dependency-outages.js';
import type { DependencyReport } from '../src/threads/protocol.js';
import { waitForAnswer } from './faults.js';
import { DependencyUnavailable, type DependencyCall, type StepContext } from './step-api.js';

/** The first backoff's median, and the longest backoff (decorrelated jitter grows about ×2 a retry). */
const FIRST_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 2000;

const BACKOFF = new ExponentialBackoff({
  generator: decorrelatedJitterGenerator,
  initialDelay: FIRST_BACKOFF_MS,
  maxDelay: MAX_BACKOFF_MS,
});

/** With no outages mapped (the benchmarks), every call reaches its service on time. */
const ON_TIME: CallDraw = { reaches: true, latencyMs: 0 };

export interface DependencyLine {
  /** The outages, if this thread maps them. */
  readonly outages: DependencyOutages<DependencyName> | undefined;
  /** Per step, the retries allowed (STEP_RETRIES). */
  readonly retries: Readonly<Partial<Record<StepName, number>>>;
}

/** Told each time the task's step calls its dependency again (published for whoever watches). */
export interface RetryNotes {
  dependencyRetried(): void;
}

export class DependencyCalls {
  private verdict: DependencyVerdict | undefined;
  private retries = 0;

  /** `line` is the thread's, shared by its tasks; `notes` the task's (its context). */
  constructor(
    private readonly ctx: StepContext,
    private readonly line: DependencyLine,
    private readonly notes: RetryNotes,
  ) {}

  /**
   * The first call is made here and awaited by its own promise alone: a step whose call is answered keeps no frame of
   * this function while it waits. Only a call the dependency refuses goes on to `callAgain`.
   */
  call(
    step: StepName,
    attempt: (call: DependencyCall) => Promise<void>,
    options: { readonly retry: boolean; readonly expectedMs: number },
  ): Promise<void> {
    return this.callOnce(step, attempt, 1).then(this.answered, (error: unknown) =>
      this.callAgain(error, step, attempt, options),
    );
  }

  private readonly answered = (): void => {
    this.verdict = 'answered';
  };

  /** Call number `number`: drawn against the dependency's outage, made by the step's `attempt`. */
  private callOnce(step: StepName, attempt: (call: DependencyCall) => Promise<void>, number: number): Promise<void> {
    const dependency = DEPENDENCY_OF_STEP[step];
    const draw = this.line.outages?.draw(dependency.name) ?? ON_TIME;
    try {
      return attempt({
        number,
        reaches: draw.reaches,
        answer: (delayMs, fault) => this.answer(draw, dependency.unavailable, delayMs, fault),
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** After a call that failed with `error`: the calls made again, while the step's retries and its deadline last. */
  private async callAgain(
    error: unknown,
    step: StepName,
    attempt: (call: DependencyCall) => Promise<void>,
    { retry, expectedMs }: { readonly retry: boolean; readonly expectedMs: number },
  ): Promise<void> {
    const dependency = DEPENDENCY_OF_STEP[step];
    const allowed = retry ? (this.line.retries[step] ?? 0) : 0;
    let backoff: IBackoff<unknown> | undefined;
    for (let number = 2; ; number++) {
      if (!(error instanceof DependencyUnavailable)) throw error;
      backoff = backoff ? backoff.next(undefined) : BACKOFF.next();
      const nextCallMs = expectedMs + (this.line.outages?.outageOf(dependency.name).latencyMs ?? 0);
      if (this.retries >= allowed || backoff.duration + nextCallMs > this.ctx.remainingMs()) {
        this.verdict = 'failed';
        throw new DependencyUnavailable(dependency.unavailable);
      }
      this.retries++;
      this.notes.dependencyRetried();
      this.ctx.log.debug(
        { dependency: dependency.name, retry: this.retries, backoff_ms: Math.round(backoff.duration) },
        'dependency unavailable; calling it again',
      );
      await this.waitOut(backoff.duration);
      try {
        await this.callOnce(step, attempt, number);
        this.verdict = 'answered';
        return;
      } catch (caught) {
        error = caught;
      }
    }
  }

  /** For the step's report. */
  report(): DependencyReport {
    return { dependency: this.verdict, retries: this.retries > 0 ? this.retries : undefined };
  }

  /**
   * The step's own wait is the order's doing; what the dependency adds to it is the dependency's. A call answered on
   * time is the wait alone, with no frame of this function kept while the step sleeps.
   */
  private answer(
    draw: CallDraw,
    unavailable: StepFailureKind,
    delayMs: number,
    fault: Fault | undefined,
  ): Promise<void> {
    if (draw.reaches && draw.latencyMs <= 0) return waitForAnswer(this.ctx, delayMs, fault);
    return this.answerLate(draw, unavailable, delayMs, fault);
  }

  private async answerLate(
    draw: CallDraw,
    unavailable: StepFailureKind,
    delayMs: number,
    fault: Fault | undefined,
  ): Promise<void> {
    const asked = performance.now();
    await waitForAnswer(this.ctx, delayMs, fault);
    if (draw.latencyMs > 0) await this.waitOut(draw.latencyMs, performance.now() - asked);
    if (!draw.reaches) throw new DependencyUnavailable(unavailable);
  }

  /**
   * A wait the dependency causes, after `orderWaitedMs` the order's own request made the step wait: canceled during it,
   * the step was failed by the dependency (if the deadline was the cause) when the dependency's part is the larger.
   */
  private async waitOut(ms: number, orderWaitedMs = 0): Promise<void> {
    const started = performance.now();
    try {
      await this.ctx.sleep(ms);
    } catch (error) {
      if (performance.now() - started >= orderWaitedMs) this.verdict = 'failed';
      throw error;
    }
  }
}
