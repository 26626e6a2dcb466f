/**
 * The entry point of every worker thread (Piscina's `filename`): the step runtime over the shared memory the pool hands
 * each thread, and the thread's last words should a step bring it down. Each step is one Piscina task: the handler runs
 * it and resolves with its report; its requests to its remote services leave as the thread's messages the moment it
 * sends them.
 *
 * The handler is a named export, `runThreadTask` (Piscina's `name`), and the module has no default export: Node loads it
 * through require(esm), which wraps a module with a default export in a facade whose instantiation Node 26 CHECKs, and a
 * thread terminated at that moment aborted the whole process (src/threads/worker-entry.ts).
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { CancelCells } from '../src/shared-memory/cancel-cells.js';
import type { ServiceRequest, StepTask, WorkerSetup } from '../src/threads/protocol.js';
import { installLastWords } from './last-words.js';
import { createStepRuntime } from './step-runtime.js';

const setup = workerData as WorkerSetup;
installLastWords(new CancelCells(setup.cancelCells));

const sendRequest = (request: ServiceRequest): void => parentPort!.postMessage(request);

// Piscina takes the thread as ready once the promise of its handler has settled: by then every step module is loaded.
export const runThreadTask = createStepRuntime(setup, threadId, sendRequest).then(
  (runtime) => (task: StepTask) => runtime.run(task),
);
