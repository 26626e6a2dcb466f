/**
 * What a step does when its order injects a fault into it (FAULT_INJECTION=on; the faults are described in
 * src/domain/faults.ts). A fault takes the place of the remote service's answer: it strikes when the step's simulated
 * wait ends, so the order's delay_ms says when a thread is lost.
 */
import type { Fault } from '../src/domain/faults.js';
import type { StepContext } from './step-api.js';

/** How long a step that ignores its cancellation keeps running after it. */
const RUNS_ON_AFTER_CANCEL_MS = 5000;

const timer = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise that never settles: the thread dies before the step could go on. */
const never = (): Promise<never> => new Promise(() => {});

/**
 * The step's wait for its remote service's answer (`ms`, honoring cancellation), or, with a fault, what the fault does
 * instead. Not an async function: without a fault the step awaits its sleep's own promise, and a sleeping step keeps no
 * frame of this one.
 */
export function waitForAnswer(ctx: StepContext, ms: number, fault: Fault | undefined): Promise<void> {
  if (fault === 'ignore_cancel') return deafWait(ctx, ms);
  if (!fault) return ctx.sleep(ms);
  return ctx.sleep(ms).then(() => strike(fault));
}

/** Waits on a timer of its own, deaf to cancellation; only afterwards does it look — and then runs on regardless. */
async function deafWait(ctx: StepContext, ms: number): Promise<void> {
  await timer(ms);
  if (ctx.isCanceled()) await timer(RUNS_ON_AFTER_CANCEL_MS);
}

function strike(fault: Exclude<Fault, 'ignore_cancel'>): Promise<never> {
  switch (fault) {
    case 'hang':
      // Never yields: only terminating the thread ends this.
      for (;;) {
        /* spin */
      }
    case 'crash':
      // Thrown from a callback of the step's own, so nothing catches it: the thread dies.
      setImmediate(() => {
        throw new Error('injected fault: crash');
      });
      return never();
    case 'reject':
      void Promise.reject(new Error('injected fault: unhandled rejection'));
      return never();
    case 'exit':
      return process.exit(70);
    case 'oom': {
      const hoard: number[][] = [];
      for (;;) hoard.push(new Array<number>(100_000).fill(hoard.length));
    }
  }
}
