/**
 * A thread's step runtime: what its tasks share (the shared memory's views, the thread's logger, the step modules
 * loaded), and each task's run, an async function that keeps what must hold on every path — the tracker's count, the
 * cell's phases, the courier slots, the on-CPU marker — so that a step module is only its own logic, and turns however
 * the step ended into its report.
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
import { StepTracker, type TrackerShard } from '../src/shared-memory/step-tracker.js';
import { reportDetail, type StepReport, type StepTask, type WorkerSetup } from '../src/threads/protocol.js';
import { ownKernelThreadId } from './kernel-thread-id.js';
import { runAsTask } from './last-words.js';
import { OnCpuMarker } from './on-cpu-marker.js';
import { StepCanceled, StepFailure } from './step-api.js';
import { WorkerStepContext, type RequestSender, type TaskResources } from './step-context.js';
import { threadLogger } from './step-log.js';
import { StepModules } from './step-modules.js';

/** A thread's runtime: runs a task, and resolves with its report once its step has ended. */
export interface StepRuntime {
  readonly run: (task: StepTask) => Promise<StepReport>;
}

/** How a task ended before its step ran: canceled while it waited to start, or for its module. */
const NOT_STARTED = Symbol('canceled before it started');
const SUCCEEDED = Symbol('succeeded');

/**
 * The runner of a thread's step tasks, once the step modules are loaded (step-modules.ts). Requests to the remote
 * services (the payment provider, the service a step acts on) leave by `sendRequest`.
 */
export async function createStepRuntime(
  setup: WorkerSetup,
  threadId: number,
  sendRequest: RequestSender,
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
  const steps = await StepModules.preload(setup.stepModules);
  /** Claimed at the first task, so a thread that dies before running one holds no shard. */
  let resources: (TaskResources & { readonly shard: TrackerShard }) | undefined;
  const resourcesOf = (): TaskResources & { readonly shard: TrackerShard } => {
    if (resources) return resources;
    const shard = tracker.claim(threadId, ownKernelThreadId());
    const onCpu = new OnCpuMarker(shard);
    return (resources = { cells, couriers, shard, onCpu, threadId, log, sendRequest, dependencies });
  };

  /** Not an async function: a step asleep keeps its context and order, not the task it came as. */
  const run = (task: StepTask): Promise<StepReport> => {
    // The admin may have changed the level since the last task (a step's logger, a child, takes it from here).
    if (level && log.level !== level.level) log.level = level.level;
    const taskResources = resourcesOf();
    const { cell, module, order } = task;
    cells.markStarted(cell);
    taskResources.shard.enter();
    const ctx = new WorkerStepContext(
      cell,
      taskResources,
      {
        requestId: task.requestId,
        traceId: task.traceId,
        client: order.client,
        clientIndex: task.clientIndex ?? 0,
        tierRank: rankOf(order.tier ?? DEFAULT_TIER),
        orderId: order.orderId,
        run: task.run,
        fence: task.fence,
        caller: task.caller,
        step: steps.nameOf(module),
      },
      task.remainingMs,
    );
    return runTask(ctx, module, order, taskResources.shard);
  };

  const runTask = async (
    ctx: WorkerStepContext,
    module: string,
    order: StepTask['order'],
    shard: TrackerShard,
  ): Promise<StepReport> => {
    const { cell } = ctx;
    const name = steps.nameOf(module);
    let ending: unknown = SUCCEEDED;
    try {
      // Only a module that was not preloaded is imported here; the wait for it honors cancellation (the import goes on).
      const step = steps.loadedStep(module) ?? (await steps.loadOrCanceled(cells, cell, module));
      if (step === undefined || cells.isCanceled(cell)) ending = NOT_STARTED;
      // Inside the task's scope, so that the thread's last words name this task while the step's code runs.
      else await runAsTask(ctx, () => (ctx.enter(), step(order, ctx)));
    } catch (error) {
      ending = error;
    }
    try {
      return reportOf(ctx, name, ending, threadId, timed, log.isLevelEnabled('debug'));
    } catch (error) {
      // A log line that cannot be written fails the step, as it would have in the step's own code.
      return { status: 'error', threadId, kind: 'internal', detail: reportDetail(error) };
    } finally {
      ctx.finish();
      cells.markFinished(cell);
      // Last, and before the report is posted: once the main thread has every report of an order, none of its steps is
      // counted as running.
      shard.exit();
    }
  };
  return { run };
}

/** The report of a task that ended with `ending`: a sentinel above, or what its step threw. */
function reportOf(
  ctx: WorkerStepContext,
  name: string,
  ending: unknown,
  threadId: number,
  timed: boolean,
  debugging: boolean,
): StepReport {
  const { dependency, retries } = ctx.dependencyReport();
  const { ranMs, courierWaitMs } = timed ? ctx.timings() : { ranMs: undefined, courierWaitMs: undefined };
  if (ending === NOT_STARTED) return { status: 'canceled', threadId };
  if (ending === SUCCEEDED) {
    if (debugging) ctx.log.debug(`${name} done`);
    return { status: 'ok', threadId, dependency, retries, ranMs, courierWaitMs };
  }
  if (ending instanceof StepCanceled) {
    // The moment the step's code saw its cancellation, in the thread's own clock: what a cancel's reach is measured to.
    if (debugging) ctx.log.debug(`${name} canceled`);
    return { status: 'canceled', threadId, dependency, retries, ranMs, courierWaitMs };
  }
  if (ending instanceof StepFailure) {
    if (debugging) ctx.log.debug({ kind: ending.kind }, `${name} failed`);
    return { status: 'error', threadId, kind: ending.kind, dependency, retries, ranMs, courierWaitMs };
  }
  // The whole of it on the thread's own log line; the report carries its head.
  ctx.log.error({ err: ending }, `${name} failed with an internal error`);
  return { status: 'error', threadId, kind: 'internal', detail: reportDetail(ending), ranMs, courierWaitMs };
}
