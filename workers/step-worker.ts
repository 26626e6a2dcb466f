/**
 * The entry point of every worker thread (Piscina's `filename`): batches of
 * steps run by the step runtime over the shared memory the pool hands each
 * thread, and the thread's last words should a step bring it down.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { CancelCells } from '../src/shared-memory/cancel-cells.js';
import type { WorkerSetup } from '../src/threads/protocol.js';
import { installLastWords } from './last-words.js';
import { batchRunner } from './step-batch.js';
import { createStepRuntime } from './step-runtime.js';

const setup = workerData as WorkerSetup;
installLastWords(new CancelCells(setup.cancelCells));

export default createStepRuntime(setup, threadId).then((runStep) =>
  batchRunner(runStep, (report) => parentPort?.postMessage(report)),
);
