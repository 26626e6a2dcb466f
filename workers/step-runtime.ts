/**
 * A thread's step runtime: what its tasks share (the shared memory's views, the thread's timer list, watch and logger,
 * the step modules loaded), and the start of each task as a record of its own (task-run.ts), which keeps the
 * bookkeeping that must hold on every path — the tracker count, the courier slots, the on-CPU marker — so that a step
 * module is only its own logic.
 *
 * Normally it runs inside a worker thread (step-worker.ts); the contrast benchmark also runs it inline on the main
 * thread, with the same steps.
 */
import { DEPENDENCY_NAMES } from '../src/domain/dependencies.js';
import { DEFAULT_TIER, rankOf } from '../src/domain/tier.js';
import { CancelCells } from '../src/shared-memory/cancel-cells.js';
import { DependencyOutages } from '../src/shared-memory/dependency-outages.js';
import { SharedLogLevel } from '../src/shared-memory/log-level.js';
import { SlotSemaphore } from '../src/shared-memory/slot-semaphore.js';
import { StepTracker } from '../src/shared-memory/step-tracker.js';
import type { StepReport, StepTask, WorkerSetup } from '../src/threads/protocol.js';
import { CancellationWatch } from './cancellation-watch.js';
import { OnCpuMarker } from './on-cpu-marker.js';
import { WorkerStepContext, type LedgerSender, type TaskResources } from './step-context.js';
import { threadLogger } from './step-log.js';
import { StepModules } from './step-modules.js';
import { TaskRun, type TaskThread } from './task-run.js';
import { ThreadTimers } from './thread-timers.js';

/**
 * Runs a task and hands its report to `ended` once the step has ended (its requests to the payment provider go by
 * `sendLedgerRequest`). It keeps no frame or promise of its own while the step waits: a step asleep on a thread is its
 * record in the thread's timer list and its context.
 */
export type StepTaskRunner = (
  task: StepTask,
  ended: (report: StepReport) => void,
  sendLedgerRequest: LedgerSender,
) => void;

/** A thread's runtime: its steps' runner. */
export interface StepRuntime {
  readonly run: StepTaskRunner;
}

/** What this thread has for its tasks, made at its first. */
interface ThreadState extends TaskThread {
  readonly onCpu: OnCpuMarker;
  /**
   * What every task's context is given, made once for the thread's way of sending ledger requests (its ring's), not
   * once per task that would keep it while it sleeps.
   */
  resources: TaskResources | undefined;
}

/**
 * The runner of a thread's step tasks, once the step modules are loaded (step-modules.ts).
 */
export async function createStepRuntime(setup: WorkerSetup, threadId: number): Promise<StepRuntime> {
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
  const steps = await StepModules.preload(setup.stepModules);

  const debugging = (): boolean => log.isLevelEnabled('debug');

  const claimThread = (): ThreadState => {
    const shard = tracker.claim(threadId);
    // The thread's bell is its shard's: both are its own for as long as it lives.
    const timers = new ThreadTimers(cells, shard.index, shard.beat.bind(shard));
    return {
      cells,
      shard,
      watch: new CancellationWatch(cells, shard, timers),
      timers,
      threadId,
      timed,
      debugging,
      outages: dependencies.outages,
      onCpu: new OnCpuMarker(shard),
      resources: undefined,
    };
  };

  const run: StepTaskRunner = (task, ended, sendLedgerRequest) => {
    // The admin may have changed the level since the last task (a step's logger, a child, takes it from here).
    if (level && log.level !== level.level) log.level = level.level;
    const state = (thread ??= claimThread());
    const { shard, watch, timers, onCpu } = state;
    // The task's record keeps its context and order, not the task: a step asleep holds no more of it.
    const { cell, module, order } = task;
    const name = steps.nameOf(module);
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
        step: name,
      },
      task.remainingMs,
    );
    const taskRun = new TaskRun(state, ctx, order, name, ended);
    // Only a module that was not preloaded is imported here; the wait for it honors cancellation like any other (the
    // import goes on, cached).
    const step = steps.loadedStep(module);
    if (step) taskRun.start(step);
    else
      steps.loadOrCanceled(timers, cell, module).then(
        (loaded) => taskRun.start(loaded),
        (error: unknown) => taskRun.end(error),
      );
  };
  return { run };
}
