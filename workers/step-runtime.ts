/**
 * Runs one step task and reports how it ended. All the bookkeeping that must
 * hold on every path lives here — the tracker count, the courier slots, the
 * on-CPU marker — so that a step module is only its own logic.
 *
 * Normally it runs inside a worker thread (step-worker.ts); the contrast
 * benchmark also runs it inline on the main thread, with the same steps.
 */
import { DEPENDENCY_NAMES } from '../src/domain/dependencies.js';
import type { StepFailureKind } from '../src/domain/errors.js';
import { DEFAULT_TIER, rankOf } from '../src/domain/tier.js';
import { CancelCells } from '../src/shared-memory/cancel-cells.js';
import { DependencyOutages } from '../src/shared-memory/dependency-outages.js';
import { SharedLogLevel } from '../src/shared-memory/log-level.js';
import { SlotSemaphore } from '../src/shared-memory/slot-semaphore.js';
import { StepTracker, type TrackerShard } from '../src/shared-memory/step-tracker.js';
import type { StepReport, StepTask, StepTimings, WorkerSetup } from '../src/threads/protocol.js';
import { CancellationWatch } from './cancellation-watch.js';
import { runAsTask } from './last-words.js';
import { StepCanceled, StepFailure, type StepFunction } from './step-api.js';
import { OnCpuMarker } from './on-cpu-marker.js';
import { WorkerStepContext, type LedgerSender, type TaskResources } from './step-context.js';
import { threadLogger } from './step-log.js';
import { ThreadTimers } from './thread-timers.js';

/**
 * Runs a task and hands its report to `ended` once the step has ended (its requests to the payment provider go by
 * `sendLedgerRequest`, or else the runtime's). It keeps no frame or promise of its own while the step waits: a step
 * asleep on a thread is its context, its record in the thread's timer list and what its own code holds (issue 32).
 */
export type StepTaskRunner = (
  task: StepTask,
  ended: (report: StepReport) => void,
  sendLedgerRequest?: LedgerSender,
) => void;

/** A thread's runtime: its steps' runner, and errgroup's cancel from the thread where a step failed. */
export interface StepRuntime {
  readonly run: StepTaskRunner;
  /**
   * A step of an order failed on this thread: cancel `siblings`, the cells of that order's steps still running here,
   * as the goroutine that failed cancels errgroup's context. The main thread would cancel them too once it reads the
   * failure, and ring this thread's bell: a round trip between the threads before the order can be answered (its p50
   * 0.6 ms, its p99 2.7–6.8 ms in fail-fast). Here they end within this turn, canceled by `failed`, and their reports
   * leave with the failure's, behind it. Cells already canceled are left to whoever canceled them.
   */
  cancelSiblings(siblings: readonly number[], failed: StepFailureKind | 'internal'): void;
}

/** What this thread has for its tasks, made at its first. */
interface ThreadState {
  readonly shard: TrackerShard;
  readonly watch: CancellationWatch;
  readonly timers: ThreadTimers;
  readonly onCpu: OnCpuMarker;
  /**
   * What every task's context is given, made once for the thread's way of sending ledger requests (one: the ring's,
   * or the thread's mail), not once per task that would keep it while it sleeps.
   */
  resources: TaskResources | undefined;
}

/** How a task ended before its step ran: canceled while it waited to start, or for its module. */
const NOT_STARTED = Symbol('canceled before it started');
/** How a task ended when its step's promise fulfilled. */
const SUCCEEDED = Symbol('succeeded');

/** A step's name for its log lines: its module's file name. */
const nameOfModule = (module: string): string => module.slice(module.lastIndexOf('/') + 1).replace(/\.[jt]s$/, '');

/**
 * The runner of a thread's step tasks, once the step modules are loaded. A
 * module that fails to load is left for its tasks, which then fail one by one
 * (internal) instead of every new thread dying at start.
 */
export async function createStepRuntime(
  setup: WorkerSetup,
  threadId: number,
  mailLedgerRequest: LedgerSender,
): Promise<StepRuntime> {
  const cells = new CancelCells(setup.cancelCells);
  const tracker = new StepTracker(setup.stepTracker);
  // A courier waiter canceled on a busy thread is passed over by the others at once: they see its cell.
  const couriers = new SlotSemaphore(setup.courierSlots, (cell) => cells.isCanceled(cell));
  const level = setup.logLevelWord ? new SharedLogLevel(setup.logLevelWord) : undefined;
  const log = threadLogger(level?.level ?? setup.logLevel, threadId);
  const dependencies = {
    outages: setup.dependencyOutages ? new DependencyOutages(setup.dependencyOutages, DEPENDENCY_NAMES) : undefined,
    retries: setup.stepRetries ?? {},
  };
  const timed = setup.stepTimings === true;
  /** Claimed at the first task, so a thread that dies before running one holds none. */
  let thread: ThreadState | undefined;
  const stepModules = new Map<string, StepFunction>();
  /** One string per module, not two new ones per step that its context would keep while the step sleeps. */
  const stepNames = new Map<string, string>();
  const stepName = (module: string): string => {
    let name = stepNames.get(module);
    if (name === undefined) stepNames.set(module, (name = nameOfModule(module)));
    return name;
  };

  const loadStep = async (module: string): Promise<StepFunction> => {
    const loaded = stepModules.get(module);
    if (loaded) return loaded;
    const namespace = (await import(module)) as { default?: unknown };
    if (typeof namespace.default !== 'function')
      throw new TypeError(`step module ${module} has no default export function`);
    const step = namespace.default as StepFunction;
    stepModules.set(module, step);
    return step;
  };
  await Promise.allSettled(setup.stepModules.map(loadStep));

  const claimThread = (): ThreadState => {
    const shard = tracker.claim(threadId);
    // The thread's bell is its shard's: both are its own for as long as it lives.
    const timers = new ThreadTimers(cells, shard.index, shard.beat.bind(shard));
    return {
      shard,
      watch: new CancellationWatch(cells, shard),
      timers,
      onCpu: new OnCpuMarker(shard),
      resources: undefined,
    };
  };

  const loadOrCanceled = (timers: ThreadTimers, cell: number, module: string): Promise<StepFunction | undefined> => {
    let unwatch = (): void => {};
    const canceled = new Promise<undefined>((resolve) => {
      unwatch = timers.watch(cell, () => resolve(undefined));
    });
    return Promise.race([loadStep(module), canceled]).finally(unwatch);
  };

  /** Cells this thread canceled, by the kind of the sibling failure that canceled them; each out as its task ends. */
  const siblingFailures = new Map<number, StepFailureKind | 'internal'>();

  const cancelSiblings = (siblings: readonly number[], failed: StepFailureKind | 'internal'): void => {
    let canceled = false;
    for (const cell of siblings) {
      if (!cells.markCanceled(cell)) continue;
      siblingFailures.set(cell, failed);
      cells.wakeCellWaiters(cell);
      canceled = true;
    }
    if (!canceled || thread === undefined) return;
    thread.timers.lookNow();
    couriers.lookAgain();
  };

  const run: StepTaskRunner = (task, ended, sendLedgerRequest = mailLedgerRequest) => {
    // The admin may have changed the level since the last task (a step's logger, a child, takes it from here).
    if (level && log.level !== level.level) log.level = level.level;
    const state = (thread ??= claimThread());
    const { shard, watch, timers, onCpu } = state;
    // The closures below keep the task's cell, module and order, not the task: a step asleep holds no more of it.
    const { cell, module, order } = task;
    cells.markStarted(cell, shard.index);
    shard.enter();
    watch.add(cell);
    if (state.resources?.sendLedgerRequest !== sendLedgerRequest)
      state.resources = { cells, couriers, shard, onCpu, timers, threadId, log, sendLedgerRequest, dependencies };
    const ctx = new WorkerStepContext(
      cell,
      state.resources,
      {
        requestId: task.requestId,
        traceId: task.traceId,
        client: order.client,
        clientIndex: task.clientIndex ?? 0,
        tierRank: rankOf(order.tier ?? DEFAULT_TIER),
        orderId: order.orderId,
        run: task.run,
        step: stepName(module),
      },
      task.remainingMs,
    );
    const end = (ending: unknown): void => {
      let report: StepReport;
      try {
        report = reportOfEnding(ctx, timed, threadId, ending, siblingFailures.get(cell));
      } finally {
        siblingFailures.delete(cell);
        ctx.finish();
        watch.remove(cell);
        cells.markFinished(cell);
        // Last, and before the report is posted: once the main thread has every
        // report of an order, none of its steps is counted as running.
        shard.exit();
      }
      ended(report);
    };
    const succeeded = (): void => {
      // A step's code need not say it is done: a line for every step, built only at a level that writes it. A line
      // that cannot be written fails the step, as it would have in the step's own code.
      let ending: unknown = SUCCEEDED;
      try {
        if (log.isLevelEnabled('debug')) ctx.log.debug(`${stepName(module)} done`);
      } catch (error) {
        ending = error;
      }
      end(ending);
    };
    // Canceled while it waited to start (or for its module): it ends without running.
    const start = (step: StepFunction | undefined): void => {
      if (step === undefined || cells.isCanceled(cell)) return end(NOT_STARTED);
      // The step's end is awaited from inside its task's scope too, so that the reactions keep the task's frame of
      // the thread's AsyncLocalStorage. Awaited after `run` returned, they kept the frame Node's `run` makes on its way
      // out (it enters the store it found, in a new frame): one more frame and its table a step asleep, 184 bytes.
      runAsTask(ctx, () => {
        let running: Promise<void>;
        try {
          ctx.enter();
          // A step's own promise is taken as it is (no new one); a step that returns none (not an async function) is
          // done when it returns.
          running = Promise.resolve(step(order, ctx));
        } catch (error) {
          return end(error);
        }
        running.then(succeeded, end);
      });
    };
    // Only a module that was not preloaded is imported here; the wait for
    // it honors cancellation like any other (the import goes on, cached).
    const step = stepModules.get(module);
    if (step) start(step);
    else loadOrCanceled(timers, cell, module).then(start, end);
  };
  return { run, cancelSiblings };
}

/** The report of a task that ended with `ending`: a sentinel above, or what its step threw. */
function reportOfEnding(
  ctx: WorkerStepContext,
  timed: boolean,
  threadId: number,
  ending: unknown,
  siblingFailed: StepFailureKind | 'internal' | undefined,
): StepReport {
  if (ending === NOT_STARTED) return { status: 'canceled', threadId, siblingFailed };
  if (ending === SUCCEEDED) return reportOf(ctx, timed, threadId, 'ok', undefined);
  if (ending instanceof StepCanceled) return reportOf(ctx, timed, threadId, 'canceled', siblingFailed);
  if (ending instanceof StepFailure) return reportOf(ctx, timed, threadId, ending, undefined);
  const timings = timed ? ctx.timings() : {};
  const detail = ending instanceof Error ? (ending.stack ?? ending.message) : String(ending);
  return { status: 'error', threadId, kind: 'internal', detail, ...timings };
}

const UNTIMED: StepTimings = { ranMs: undefined, courierWaitMs: undefined };

/** A step's report: every field, undefined where it has none — one shape, and no spread, for every step. */
function reportOf(
  ctx: WorkerStepContext,
  timed: boolean,
  threadId: number,
  ending: 'ok' | 'canceled' | StepFailure,
  siblingFailed: StepFailureKind | 'internal' | undefined,
): StepReport {
  const { dependency, retries } = ctx.dependencyReport();
  const { ranMs, courierWaitMs } = timed ? ctx.timings() : UNTIMED;
  if (ending instanceof StepFailure)
    return { status: 'error', threadId, kind: ending.kind, dependency, retries, ranMs, courierWaitMs };
  if (ending === 'canceled')
    return { status: ending, threadId, dependency, retries, ranMs, courierWaitMs, siblingFailed };
  return { status: ending, threadId, dependency, retries, ranMs, courierWaitMs };
}
