/**
 * One step task on its thread, as one record: what it needs to end (its context, its order, who hears its report) and
 * how it ends, on every path (the tracker's count, the watch, the cell, the report).
 *
 * A step is run one way, by what its module is. A plan (step-api.ts's StepPlan) is run by this record: a courier it
 * must wait for is the record in the couriers' line, with the grant's promise; a plain call to its dependency is the
 * record asleep in the thread's timer list, whose wake ends the task — no promise, closure or async frame is made for
 * it. A step asleep thus holds its record, its context and labels, not a chain of promises
 * (test/unit/step-runtime.test.ts holds it to a bound; docs/decisions/an-order-in-flight.md). A call with more to it — CPU work, an injected fault, an outage and its retries —
 * goes through the context's dependency calls, inside the task's scope for its last words. A function runs as itself,
 * inside that scope too.
 */
import type { Order } from '../src/domain/order.js';
import type { CancelCells } from '../src/shared-memory/cancel-cells.js';
import type { DependencyOutages } from '../src/shared-memory/dependency-outages.js';
import type { TrackerShard } from '../src/shared-memory/step-tracker.js';
import { DEPENDENCY_OF_STEP, type DependencyName } from '../src/domain/dependencies.js';
import type { DependencyReport, StepReport, StepTimings } from '../src/threads/protocol.js';
import type { CancellationWatch } from './cancellation-watch.js';
import { runAsTask } from './last-words.js';
import { reportDetail } from '../src/threads/protocol.js';
import { StepCanceled, StepFailure, type DependencyCall, type StepModule, type StepPlan } from './step-api.js';
import type { CourierWaiter, WorkerStepContext } from './step-context.js';
import type { Sleeper, ThreadTimers } from './thread-timers.js';

/** What every task of a thread ends with: the thread's, made once. */
export interface TaskThread {
  readonly cells: CancelCells;
  readonly shard: TrackerShard;
  readonly watch: CancellationWatch;
  readonly timers: ThreadTimers;
  readonly threadId: number;
  /** Reports carry how long the step ran (STEP_TIMINGS). */
  readonly timed: boolean;
  /** Whether the thread's logger writes debug lines now. */
  readonly debugging: () => boolean;
  /** The outages its calls are drawn against, if this thread maps them. */
  readonly outages: DependencyOutages<DependencyName> | undefined;
}

/** How a task ended before its step ran: canceled while it waited to start, or for its module. */
const NOT_STARTED = Symbol('canceled before it started');
/** How a task ended when its step's promise fulfilled. */
const SUCCEEDED = Symbol('succeeded');
const NO_DEPENDENCY: DependencyReport = { dependency: undefined, retries: undefined };
const ANSWERED: DependencyReport = { dependency: 'answered', retries: undefined };

export class TaskRun implements Sleeper, CourierWaiter {
  dueAt = 0;
  heapAt = -1;
  /** The step this record runs: a plan, or a function. */
  private step: StepModule | undefined;
  /** Its call is the record asleep in the timer list (a plain call), not the context's dependency calls. */
  private callAsleep = false;
  /** The call asleep was answered (not cut by a cancellation). */
  private answered = false;

  constructor(
    private readonly thread: TaskThread,
    private readonly ctx: WorkerStepContext,
    private readonly order: Order,
    /** The step's name for its log lines. */
    private readonly stepName: string,
    private readonly ended: (report: StepReport) => void,
  ) {}

  get cell(): number {
    return this.ctx.cell;
  }

  /** Run the step: its plan by this record, its function as itself. */
  start(step: StepModule | undefined): void {
    // Canceled while it waited to start (or for its module): it ends without running.
    if (step === undefined || this.thread.cells.isCanceled(this.cell)) return this.end(NOT_STARTED);
    this.step = step;
    if (typeof step === 'function') return this.runInTaskScope();
    if (!step.holdsCourier) return this.call(step);
    let courierFree: boolean;
    try {
      courierFree = this.ctx.takeCourierAtOnce();
    } catch (error) {
      // As a step's code would have failed, not its thread: whatever threw is ours, and the task still ends.
      return this.end(error);
    }
    // In line for a courier as a record: under a courier-bound load (`overhead`) every courier step waits.
    if (courierFree) this.call(step);
    else this.ctx.awaitCourier(this);
  }

  /** The couriers' line's: the planned step has its courier, and calls its dependency. */
  courierHeld(): void {
    this.call(this.step as StepPlan);
  }

  /** The timer list's: the call asleep is answered, or cut by the order's cancellation. */
  woke(canceled: boolean): void {
    this.ctx.wakeUp();
    if (canceled) return this.end(new StepCanceled());
    this.answered = true;
    this.callAnswered();
  }

  /**
   * Run the step's function, or its plan's call through the context, inside the task's scope (the thread's last words
   * name the task while its code runs), and end the task when the promise settles. The end is awaited from inside the
   * scope too, so that the reactions keep the task's frame of the thread's AsyncLocalStorage; awaited after `run`
   * returned, they kept the frame Node's `run` makes on its way out (it enters the store it found, in a new frame): one
   * more frame and its table a step asleep.
   */
  private runInTaskScope(): void {
    runAsTask(this.ctx, () => {
      let running: Promise<void>;
      try {
        running = this.running();
      } catch (error) {
        return this.end(error);
      }
      running.then(
        () => (typeof this.step === 'function' ? this.succeeded() : this.callAnswered()),
        (error: unknown) => this.end(error),
      );
    });
  }

  private running(): Promise<void> {
    const { step, order, ctx } = this;
    // A step's own promise is taken as it is (no new one); a step that returns none (not an async function) is done
    // when it returns.
    if (typeof step === 'function') {
      ctx.enter();
      return Promise.resolve(step(order, ctx));
    }
    const { step: name, send } = step!;
    const attempt = (call: DependencyCall): Promise<void> => {
      if (call.reaches) send?.(order, ctx);
      const answer = (): Promise<void> => call.answer(order.delayMs[name], order.faults?.[name]);
      // The step's own work, done once whatever the calls.
      const cpuMs = call.number === 1 ? order.cpuMs[name] : 0;
      return cpuMs > 0 ? ctx.compute(cpuMs).then(answer) : answer();
    };
    return ctx.callDependency(name, attempt, { retry: order.failStep !== name, expectedMs: order.delayMs[name] });
  }

  /**
   * The plan's call to its dependency. A plain one — no fault injected, no CPU work, its dependency not out (a call
   * drawn against no outage reaches its service on time, and draws nothing) — is this record asleep; any other goes
   * through the context's dependency calls.
   */
  private call(plan: StepPlan): void {
    const { order, ctx } = this;
    const { step } = plan;
    ctx.enter();
    const outages = this.thread.outages;
    const plain =
      order.faults?.[step] === undefined &&
      order.cpuMs[step] === 0 &&
      (outages === undefined || !outages.isOut(DEPENDENCY_OF_STEP[step].name));
    if (!plain) return this.runInTaskScope();
    try {
      // A request leaves at once: nothing of it is left to run later, so no task scope is needed for its last words.
      plan.send?.(order, ctx);
    } catch (error) {
      return this.end(error);
    }
    this.callAsleep = true;
    ctx.fallAsleep();
    this.thread.timers.sleepRecord(this, order.delayMs[step]);
  }

  /** The call was answered: the step succeeds, unless the order asks it to fail. */
  private callAnswered(): void {
    const plan = this.step as StepPlan;
    if (this.order.failStep !== plan.step) return this.succeeded();
    if (this.thread.debugging()) this.ctx.log.debug({ kind: plan.failure }, `${plan.step} failed`);
    this.end(new StepFailure(plan.failure));
  }

  private succeeded(): void {
    // A step's code need not say it is done: a line for every step, built only at a level that writes it. A line that
    // cannot be written fails the step, as it would have in the step's own code.
    let ending: unknown = SUCCEEDED;
    try {
      if (this.thread.debugging()) this.ctx.log.debug(`${this.stepName} done`);
    } catch (error) {
      ending = error;
    }
    this.end(ending);
  }

  /** The task is over: `ending` is a sentinel above, or what its step (or its module's import) threw. */
  end(ending: unknown): void {
    const { thread, ctx, cell } = this;
    let report: StepReport;
    try {
      report = this.reportOfEnding(ending);
    } finally {
      ctx.finish();
      thread.watch.remove(cell);
      thread.cells.markFinished(cell);
      // Last, and before the report is posted: once the main thread has every report of an order, none of its steps is
      // counted as running.
      thread.shard.exit();
    }
    this.ended(report);
  }

  /** The report of a task that ended with `ending`: a sentinel above, or what its step threw. */
  private reportOfEnding(ending: unknown): StepReport {
    const { threadId } = this.thread;
    if (ending === NOT_STARTED) return { status: 'canceled', threadId };
    if (ending === SUCCEEDED) return this.reportOf('ok');
    if (ending instanceof StepCanceled) {
      // The moment the step's code saw its cancellation, in the thread's own clock: what a cancel's reach is measured to.
      try {
        if (this.thread.debugging()) this.ctx.log.debug(`${this.stepName} canceled`);
      } catch {
        // A line that cannot be written changes nothing of a step already canceled.
      }
      return this.reportOf('canceled');
    }
    if (ending instanceof StepFailure) return this.reportOf(ending);
    const timings = this.thread.timed ? this.ctx.timings() : {};
    // The whole of it on the thread's own log line; the report carries its head.
    try {
      this.ctx.log.error({ err: ending }, `${this.stepName} failed with an internal error`);
    } catch {
      // A line that cannot be written loses the stack, not the report.
    }
    return { status: 'error', threadId, kind: 'internal', detail: reportDetail(ending), ...timings };
  }

  /** A step's report: every field, undefined where it has none — one shape, and no spread, for every step. */
  private reportOf(ending: 'ok' | 'canceled' | StepFailure): StepReport {
    const { threadId } = this.thread;
    const { dependency, retries } = this.dependencyReport();
    const { ranMs, courierWaitMs } = this.thread.timed ? this.ctx.timings() : UNTIMED;
    if (ending instanceof StepFailure)
      return { status: 'error', threadId, kind: ending.kind, dependency, retries, ranMs, courierWaitMs };
    if (ending === 'canceled') return { status: ending, threadId, dependency, retries, ranMs, courierWaitMs };
    return { status: ending, threadId, dependency, retries, ranMs, courierWaitMs };
  }

  /** A call asleep is answered or was cut while the step waited for its own delay (the order's, not the dependency's). */
  private dependencyReport(): DependencyReport {
    if (!this.callAsleep) return this.ctx.dependencyReport();
    return this.answered ? ANSWERED : NO_DEPENDENCY;
  }
}

const UNTIMED: StepTimings = { ranMs: undefined, courierWaitMs: undefined };
