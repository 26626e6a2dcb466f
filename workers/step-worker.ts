/**
 * The entry point of every worker thread (Piscina's `filename`): the step
 * runtime over the shared memory the pool hands each thread, and the
 * thread's last words should a step bring it down.
 */
import { threadId, workerData } from 'node:worker_threads';
import { CancelCells } from '../src/shared-memory/cancel-cells.js';
import type { SharedMemoryBuffers } from '../src/threads/protocol.js';
import { installLastWords } from './last-words.js';
import { createStepRuntime } from './step-runtime.js';

const memory = workerData as SharedMemoryBuffers;
installLastWords(new CancelCells(memory.cancelCells));

export default createStepRuntime(memory, threadId);
