/**
 * The entry point of every worker thread (Piscina's `filename`): batches of
 * steps run by the step runtime over the shared memory the pool hands each
 * thread, and the thread's last words should a step bring it down.
 *
 * Its handler is a named export, `runThreadTask` (Piscina's `name`), and the
 * module has no default export: Node loads it through require(esm), which
 * wraps a module with a default export in a facade whose instantiation Node
 * 26 CHECKs, and a thread terminated at that moment aborted the whole process
 * (src/threads/worker-entry.ts).
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { CancelCells } from '../src/shared-memory/cancel-cells.js';
import type { WorkerSetup } from '../src/threads/protocol.js';
import { installLastWords } from './last-words.js';
import { taskRunner } from './step-batch.js';
import { createStepRuntime } from './step-runtime.js';
import { ThreadMailbox } from './thread-mail.js';
import { serveRing } from './ring-server.js';
import { StepRings } from '../src/threads/step-rings.js';

const setup = workerData as WorkerSetup;
installLastWords(new CancelCells(setup.cancelCells));

// Piscina passes on what a thread posts on its parent port besides its own messages.
const mailbox = new ThreadMailbox((mail) => parentPort?.postMessage(mail));

export const runThreadTask = createStepRuntime(setup, threadId, (request) => mailbox.ledgerRequest(request)).then(
  (runtime) => {
    // Claimed before the thread is ready: the main thread writes to a thread's rings only once Piscina says it is.
    const rings = setup.stepRings ? new StepRings(setup.stepRings).claim(threadId) : undefined;
    if (rings) serveRing(rings, setup.stepModules, runtime);
    return taskRunner(runtime.run, (report) => mailbox.report(report));
  },
);
