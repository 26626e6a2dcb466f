/**
 * The entry point of every worker thread (Piscina's `filename`): the step runtime over the shared memory the pool hands
 * each thread, serving the pair of step rings the main thread claims for it, and the thread's last words should a step
 * bring it down.
 *
 * Its handler is a named export, `runThreadTask` (Piscina's `name`), and the module has no default export: Node loads it
 * through require(esm), which wraps a module with a default export in a facade whose instantiation Node 26 CHECKs, and a
 * thread terminated at that moment aborted the whole process (src/threads/worker-entry.ts).
 */
import { threadId, workerData } from 'node:worker_threads';
import { CancelCells } from '../src/shared-memory/cancel-cells.js';
import type { WorkerSetup } from '../src/threads/protocol.js';
import { StepRings, type RingPair } from '../src/threads/step-rings.js';
import { installLastWords } from './last-words.js';
import { serveRing } from './ring-server.js';
import { createStepRuntime } from './step-runtime.js';

/** How often a thread looks for the pair of rings the main thread claims for it, until it has one. */
const PAIR_LOOK_MS = 1;

const setup = workerData as WorkerSetup;
installLastWords(new CancelCells(setup.cancelCells));

/** Piscina's task handler, which it never calls: every step comes by the thread's rings. */
const noPiscinaTasks = (): never => {
  throw new Error('steps come by the thread rings, not as Piscina tasks');
};

/** The thread's pair, once the main thread has claimed it: as Piscina says the thread is ready, or soon after. */
function pairOf(rings: StepRings): Promise<RingPair> {
  return new Promise((found) => {
    const look = (): void => {
      const pair = rings.ownedBy(threadId);
      if (pair) found(pair);
      else setTimeout(look, PAIR_LOOK_MS);
    };
    look();
  });
}

// Piscina takes the thread as ready once the promise of its handler has settled: by then every step module is loaded.
// The handler itself is inert.
export const runThreadTask = createStepRuntime(setup, threadId).then((runtime) => {
  void pairOf(new StepRings(setup.stepRings)).then((pair) => serveRing(pair, setup.stepModules, runtime));
  return noPiscinaTasks;
});
