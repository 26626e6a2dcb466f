/**
 * Runs one step task and reports how it ended. All the bookkeeping that must
 * hold on every path lives here — the tracker count, the courier slots, the
 * on-CPU marker — so that a step module is only its own logic.
 *
 * Normally it runs inside a worker thread (step-worker.ts); the contrast
 * benchmark also runs it inline on the main thread, with the same steps.
 */
import { DEPENDENCY_NAMES } from '../src/domain/dependencies.js';
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
import { WorkerStepContext, type LedgerSender } from './step-context.js';
import { threadLogger } from './step-log.js';
import { ThreadTimers } from './thread-timers.js';

/** Runs a task; its step's requests to the payment provider go by `sendLedgerRequest`, or else the runtime's. */
export type StepTaskRunner = (task: StepTask, sendLedgerRequest?: LedgerSender) => Promise<StepReport>;

/** A step's name for its log lines: its module's file name. */
const stepName = (module: string): string => module.slice(module.lastIndexOf('/') + 1).replace(/\.[jt]s$/, '');

/**
 * The runner of a thread's step tasks, once the step modules are loaded. A
 * module that fails to load is left for its tasks, which then fail one by one
 * (internal) instead of every new thread dying at start.
 */
export async function createStepRuntime(
  setup: WorkerSetup,
  threadId: number,
  mailLedgerRequest: LedgerSender,
): Promise<StepTaskRunner> {
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
  let shard: TrackerShard | undefined;
  let watch: CancellationWatch | undefined;
  let timers: ThreadTimers | undefined;
  let onCpu: OnCpuMarker | undefined;
  const stepModules = new Map<string, StepFunction>();

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

  const loadOrCanceled = (timers: ThreadTimers, cell: number, module: string): Promise<StepFunction | undefined> => {
    let unwatch = (): void => {};
    const canceled = new Promise<undefined>((resolve) => {
      unwatch = timers.watch(cell, () => resolve(undefined));
    });
    return Promise.race([loadStep(module), canceled]).finally(unwatch);
  };

  return async (task, sendLedgerRequest = mailLedgerRequest) => {
    // The admin may have changed the level since the last task (a step's logger, a child, takes it from here).
    if (level && log.level !== level.level) log.level = level.level;
    shard ??= tracker.claim(threadId);
    watch ??= new CancellationWatch(cells, shard);
    // The thread's bell is its shard's: both are its own for as long as it lives.
    timers ??= new ThreadTimers(cells, shard.index, shard.beat.bind(shard));
    onCpu ??= new OnCpuMarker(shard);
    cells.markStarted(task.cell, shard.index);
    shard.enter();
    watch.add(task.cell);
    const ctx = new WorkerStepContext(
      task.cell,
      { cells, couriers, shard, onCpu, timers, threadId, log, sendLedgerRequest, dependencies },
      {
        requestId: task.requestId,
        ...(task.traceId === undefined ? {} : { traceId: task.traceId }),
        client: task.order.client,
        clientIndex: task.clientIndex ?? 0,
        tierRank: rankOf(task.order.tier ?? DEFAULT_TIER),
        orderId: task.order.orderId,
        run: task.run,
        step: stepName(task.module),
      },
      task.remainingMs,
    );
    try {
      if (cells.isCanceled(task.cell)) return { status: 'canceled', threadId };
      // Only a module that was not preloaded is imported here; the wait for
      // it honors cancellation like any other (the import goes on, cached).
      const step = stepModules.get(task.module) ?? (await loadOrCanceled(timers, task.cell, task.module));
      if (step === undefined || cells.isCanceled(task.cell)) return { status: 'canceled', threadId };
      await runAsTask(task.cell, () => {
        ctx.enter();
        return step(task.order, ctx);
      });
      return reportOf(ctx, timed, threadId, 'ok');
    } catch (error) {
      if (error instanceof StepCanceled) return reportOf(ctx, timed, threadId, 'canceled');
      if (error instanceof StepFailure) return reportOf(ctx, timed, threadId, error);
      const timings = timed ? ctx.timings() : {};
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      return { status: 'error', threadId, kind: 'internal', detail, ...timings };
    } finally {
      ctx.finish();
      watch.remove(task.cell);
      cells.markFinished(task.cell);
      // Last, and before the report is posted: once the main thread has every
      // report of an order, none of its steps is counted as running.
      shard.exit();
    }
  };
}

const UNTIMED: StepTimings = { ranMs: undefined, courierWaitMs: undefined };

/** A step's report: every field, undefined where it has none — one shape, and no spread, for every step. */
function reportOf(
  ctx: WorkerStepContext,
  timed: boolean,
  threadId: number,
  ending: 'ok' | 'canceled' | StepFailure,
): StepReport {
  const { dependency, retries } = ctx.dependencyReport();
  const { ranMs, courierWaitMs } = timed ? ctx.timings() : UNTIMED;
  if (ending instanceof StepFailure)
    return { status: 'error', threadId, kind: ending.kind, dependency, retries, ranMs, courierWaitMs };
  return { status: ending, threadId, dependency, retries, ranMs, courierWaitMs };
}
