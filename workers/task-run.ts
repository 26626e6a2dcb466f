/**
 * One step task on its thread, as one record: what it needs to end (its
 * context, its order, who hears its report) and how it ends, on every path
 * (the tracker's count, the watch, the cell, the report).
 *
 * A planned step (step-api.ts's StepPlan) runs as this record alone. Its call
 * to its dependency is the record asleep in the thread's timer list, and its
 * wake ends the task: no promise, closure or async frame is made for it. A
 * courier it must wait for is the record in the couriers' line, with the
 * grant's promise. In
 * `wide`, 5,000 orders asleep on two threads, a step asleep held 2.2 KB as a
 * chain of them; with its context and labels the record holds under 700
 * bytes (issue 32; test/unit/step-runtime.test.ts). Any other step runs its
 * function, inside its task's scope for its last words.
 */
import type { StepFailureKind } from '../src/domain/errors.js';
import type { Order } from '../src/domain/order.js';
import type { CancelCells } from '../src/shared-memory/cancel-cells.js';
import type { DependencyOutages } from '../src/shared-memory/dependency-outages.js';
import type { TrackerShard } from '../src/shared-memory/step-tracker.js';
import { DEPENDENCY_OF_STEP, type DependencyName } from '../src/domain/dependencies.js';
import type { DependencyReport, StepReport, StepTimings } from '../src/threads/protocol.js';
import type { CancellationWatch } from './cancellation-watch.js';
import { runAsTask } from './last-words.js';
import { planOf, StepCanceled, StepFailure, type StepFunction, type StepPlan } from './step-api.js';
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
  /** Cells this thread canceled, by the kind of the sibling failure that canceled them; each out as its task ends. */
  readonly siblingFailures: Map<number, StepFailureKind | 'internal'>;
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
  /** The plan this record runs, if its step has one and the order asks for no more. */
  private plan: StepPlan | undefined;
  /** The planned call was answered (not cut by a cancellation). */
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

  /** Run the step: by its plan if it has one that covers the order, by its function otherwise. */
  start(step: StepFunction | undefined): void {
    // Canceled while it waited to start (or for its module): it ends without running.
    if (step === undefined || this.thread.cells.isCanceled(this.cell)) return this.end(NOT_STARTED);
    const plan = planOf(step);
    let planned: boolean;
    let courierFree = true;
    try {
      planned = plan !== undefined && this.covers(plan);
      if (planned && plan!.holdsCourier) courierFree = this.ctx.takeCourierAtOnce();
    } catch (error) {
      // As a step's function would have failed, not its thread: whatever threw is ours, and the task still ends.
      return this.end(error);
    }
    if (planned && !courierFree) {
      // In line for a courier as a record: under a courier-bound load (`overhead`) every courier step waits.
      this.plan = plan;
      return this.ctx.awaitCourier(this);
    }
    if (planned) return this.runPlan(plan!);
    // The step's end is awaited from inside its task's scope too, so that the reactions keep the task's frame of the
    // thread's AsyncLocalStorage. Awaited after `run` returned, they kept the frame Node's `run` makes on its way out
    // (it enters the store it found, in a new frame): one more frame and its table a step asleep, 184 bytes.
    runAsTask(this.ctx, () => {
      let running: Promise<void>;
      try {
        this.ctx.enter();
        // A step's own promise is taken as it is (no new one); a step that returns none (not an async function) is
        // done when it returns.
        running = Promise.resolve(step(this.order, this.ctx));
      } catch (error) {
        return this.end(error);
      }
      running.then(
        () => this.succeeded(),
        (error: unknown) => this.end(error),
      );
    });
  }

  /** The couriers' line's: the planned step has its courier, and calls its dependency. */
  courierHeld(): void {
    this.runPlan(this.plan!);
  }

  /** The timer list's: the planned call is answered, or cut by the order's cancellation. */
  woke(canceled: boolean): void {
    const plan = this.plan!;
    this.ctx.wakeUp();
    if (canceled) return this.end(new StepCanceled());
    this.answered = true;
    if (this.order.failStep !== plan.step) return this.succeeded();
    if (this.thread.debugging()) this.ctx.log.debug({ kind: plan.failure }, `${plan.step} failed`);
    this.end(new StepFailure(plan.failure));
  }

  /**
   * Whether the plan is all the order asks of the step: no fault injected in it, no CPU work, and its dependency not
   * out (a call drawn against no outage reaches its service on time, and draws nothing).
   */
  private covers(plan: StepPlan): boolean {
    const { order } = this;
    if (order.faults?.[plan.step] !== undefined || order.cpuMs[plan.step] > 0) return false;
    const outages = this.thread.outages;
    return outages === undefined || !outages.isOut(DEPENDENCY_OF_STEP[plan.step].name);
  }

  private runPlan(plan: StepPlan): void {
    this.plan = plan;
    this.ctx.enter();
    try {
      // A request leaves at once: nothing of it is left to run later, so no task scope is needed for its last words.
      plan.send?.(this.order, this.ctx);
    } catch (error) {
      return this.end(error);
    }
    this.ctx.fallAsleep();
    this.thread.timers.sleepRecord(this, this.order.delayMs[plan.step]);
  }

  private succeeded(): void {
    // A step's code need not say it is done: a line for every step, built only at a level that writes it. A line
    // that cannot be written fails the step, as it would have in the step's own code.
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
      report = this.reportOfEnding(ending, thread.siblingFailures.get(cell));
    } finally {
      thread.siblingFailures.delete(cell);
      ctx.finish();
      thread.watch.remove(cell);
      thread.cells.markFinished(cell);
      // Last, and before the report is posted: once the main thread has every
      // report of an order, none of its steps is counted as running.
      thread.shard.exit();
    }
    this.ended(report);
  }

  /** The report of a task that ended with `ending`: a sentinel above, or what its step threw. */
  private reportOfEnding(ending: unknown, siblingFailed: StepFailureKind | 'internal' | undefined): StepReport {
    const { threadId } = this.thread;
    if (ending === NOT_STARTED) return { status: 'canceled', threadId, siblingFailed };
    if (ending === SUCCEEDED) return this.reportOf('ok', undefined);
    if (ending instanceof StepCanceled) return this.reportOf('canceled', siblingFailed);
    if (ending instanceof StepFailure) return this.reportOf(ending, undefined);
    const timings = this.thread.timed ? this.ctx.timings() : {};
    const detail = ending instanceof Error ? (ending.stack ?? ending.message) : String(ending);
    return { status: 'error', threadId, kind: 'internal', detail, ...timings };
  }

  /** A step's report: every field, undefined where it has none — one shape, and no spread, for every step. */
  private reportOf(
    ending: 'ok' | 'canceled' | StepFailure,
    siblingFailed: StepFailureKind | 'internal' | undefined,
  ): StepReport {
    const { threadId } = this.thread;
    const { dependency, retries } = this.dependencyReport();
    const { ranMs, courierWaitMs } = this.thread.timed ? this.ctx.timings() : UNTIMED;
    if (ending instanceof StepFailure)
      return { status: 'error', threadId, kind: ending.kind, dependency, retries, ranMs, courierWaitMs };
    if (ending === 'canceled')
      return { status: ending, threadId, dependency, retries, ranMs, courierWaitMs, siblingFailed };
    return { status: ending, threadId, dependency, retries, ranMs, courierWaitMs };
  }

  /** A planned call is answered or was cut while the step waited for its own delay (the order's, not the dependency's). */
  private dependencyReport(): DependencyReport {
    if (this.plan === undefined) return this.ctx.dependencyReport();
    return this.answered ? ANSWERED : NO_DEPENDENCY;
  }
}

const UNTIMED: StepTimings = { ranMs: undefined, courierWaitMs: undefined };
