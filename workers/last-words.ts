/**
 * A thread's last words: when a worker thread is about to die from a step's
 * code — an uncaught exception, an unhandled rejection, process.exit — it
 * marks the cancel cell of the step responsible, so the main thread can fail
 * that step's order and run the other steps that shared the thread again.
 *
 * AsyncLocalStorage carries "which task is this" through the step's timers
 * and promises, and Node runs these handlers inside the failing callback's
 * context, so the culprit is known even when it throws from a timer long
 * after its task started. (Out of memory leaves no last words: then the
 * tracker's on-CPU marker names the culprit.)
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { CancelCells } from '../src/shared-memory/cancel-cells.js';

interface TaskScope {
  readonly cell: number;
  /** Set when the task has ended: its cell may belong to another task by then. */
  ended: boolean;
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
 * Run a task's code so that anything it leaves behind is traced back to `cell`. Not an async function: a step
 * asleep keeps no frame of this one (issue 32).
 */
export function runAsTask<T>(cell: number, run: () => Promise<T>): Promise<T> {
  const scope: TaskScope = { cell, ended: false };
  const end = (): void => {
    scope.ended = true;
  };
  let running: Promise<T>;
  try {
    running = Promise.resolve(currentTask.run(scope, run));
  } catch (error) {
    end();
    return Promise.reject(error);
  }
  return running.finally(end);
}
