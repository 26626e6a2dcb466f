/**
 * A thread's last words: when a worker thread is about to die from a step's code — an uncaught exception, an unhandled
 * rejection, process.exit — it marks the cancel cell of the step responsible, so the main thread can fail that step's
 * order and run the other steps that shared the thread again.
 *
 * AsyncLocalStorage carries "which task is this" through the step's timers and promises, and Node runs these handlers
 * inside the failing callback's context, so the culprit is known even when it throws from a timer long after its task
 * started. (Out of memory leaves no last words: then the tracker's on-CPU marker names the culprit.)
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { CancelCells } from '../src/shared-memory/cancel-cells.js';

/** The task a thread's code runs for: its cell, and whether it has ended (its cell may be another task's by then). */
export interface TaskScope {
  readonly cell: number;
  readonly ended: boolean;
}

const currentTask = new AsyncLocalStorage<TaskScope>();

export function installLastWords(cells: CancelCells): void {
  const blameCurrentTask = (): void => {
    const scope = currentTask.getStore();
    if (scope && !scope.ended) cells.markFaulted(scope.cell);
  };
  // The monitor observes without handling: the thread still dies as it should.
  process.on('uncaughtExceptionMonitor', blameCurrentTask);
  process.on('exit', blameCurrentTask);
}

/**
 * Run a task's code so that anything it leaves behind is traced back to its scope. Adds no promise of its own: a step
 * asleep keeps nothing of this call.
 */
export function runAsTask<T>(scope: TaskScope, run: () => T): T {
  return currentTask.run(scope, run);
}
