/**
 * The entry point of every worker thread (Piscina's `filename`): runs one
 * step task and reports how it ended. All the bookkeeping that must hold on
 * every path lives here — the tracker count, the courier slots, the thread's
 * on-CPU marker — so that a step module is only its own logic.
 */
import { threadId, workerData } from 'node:worker_threads';
import { CancelCells } from '../src/shared-memory/cancel-cells.js';
import { SlotSemaphore } from '../src/shared-memory/slot-semaphore.js';
import { StepTracker, type TrackerShard } from '../src/shared-memory/step-tracker.js';
import type { SharedMemoryBuffers, StepReport, StepTask } from '../src/threads/protocol.js';
import { installLastWords, runAsTask } from './last-words.js';
import { StepCanceled, StepFailure, type StepFunction } from './step-api.js';
import { TaskContext } from './step-context.js';

const memory = workerData as SharedMemoryBuffers;
const cells = new CancelCells(memory.cancelCells);
const tracker = new StepTracker(memory.stepTracker);
const couriers = new SlotSemaphore(memory.courierSlots);
installLastWords(cells);

/** Claimed at the first task, so a thread that dies before running one holds none. */
let shard: TrackerShard | undefined;
const stepModules = new Map<string, StepFunction>();

async function loadStep(module: string): Promise<StepFunction> {
  const loaded = stepModules.get(module);
  if (loaded) return loaded;
  const namespace = (await import(module)) as { default?: unknown };
  if (typeof namespace.default !== 'function') throw new TypeError(`step module ${module} has no default export function`);
  const step = namespace.default as StepFunction;
  stepModules.set(module, step);
  return step;
}

export default async function runStepTask(task: StepTask): Promise<StepReport> {
  shard ??= tracker.claim(threadId);
  cells.markStarted(task.cell);
  shard.enter();
  const ctx = new TaskContext(task.cell, { cells, couriers, shard, threadId });
  try {
    if (cells.isCanceled(task.cell)) return { status: 'canceled', threadId };
    const step = await loadStep(task.module);
    await runAsTask(task.cell, () => {
      ctx.enter();
      return step(task.order, ctx);
    });
    return { status: 'ok', threadId };
  } catch (error) {
    if (error instanceof StepCanceled) return { status: 'canceled', threadId };
    if (error instanceof StepFailure) return { status: 'error', threadId, kind: error.kind };
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    return { status: 'error', threadId, kind: 'internal', detail };
  } finally {
    ctx.finish();
    // Last, and before the report is posted: once the main thread has every
    // report of an order, none of its steps is counted as running.
    shard.exit();
  }
}
