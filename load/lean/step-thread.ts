/**
 * The lean build's step thread (Piscina's `filename`, its handler the named export `runStep`: a module with no default
 * export is loaded without the facade require(esm) builds for one). A step is its delay, slept on its order's cancel
 * word, so one wait is both the timer and the cancellation; the courier step first takes one of the five couriers.
 */
import { workerData } from 'node:worker_threads';
import { CANCELED, FREE_COURIERS, LIVE, type StepEnd, type StepTask } from './shared-words.js';

const words = new Int32Array(workerData as SharedArrayBuffer);

/**
 * A cancel that lands between a waiter's look at its cancel word and its sleep on the couriers' word wakes nobody; the
 * waiter sees it at its next wake-up, at the latest this long after.
 */
const COURIER_RECHECK_MS = 50;

/** Sleeps `ms` unless the order is canceled first: true if the whole delay passed. */
async function sleep(cancelWord: number, ms: number): Promise<boolean> {
  const wait = Atomics.waitAsync(words, cancelWord, LIVE, ms);
  return (wait.async ? await wait.value : wait.value) === 'timed-out';
}

/**
 * Takes a courier, waiting for one to be free; false if the order is canceled first. The main thread wakes every
 * waiter on a cancel, so each looks at its own word again; a waiter that leaves canceled passes a wake-up it may have
 * taken on to the next.
 */
async function takeCourier(cancelWord: number): Promise<boolean> {
  for (;;) {
    if (Atomics.load(words, cancelWord) === CANCELED) {
      if (Atomics.load(words, FREE_COURIERS) > 0) Atomics.notify(words, FREE_COURIERS, 1);
      return false;
    }
    const free = Atomics.load(words, FREE_COURIERS);
    if (free > 0) {
      if (Atomics.compareExchange(words, FREE_COURIERS, free, free - 1) === free) return true;
      continue;
    }
    const wait = Atomics.waitAsync(words, FREE_COURIERS, 0, COURIER_RECHECK_MS);
    if (wait.async) await wait.value;
  }
}

function releaseCourier(): void {
  Atomics.add(words, FREE_COURIERS, 1);
  Atomics.notify(words, FREE_COURIERS, 1);
}

export async function runStep(task: StepTask): Promise<StepEnd> {
  if (task.holdsCourier && !(await takeCourier(task.cancelWord))) return 'canceled';
  try {
    if (!(await sleep(task.cancelWord, task.delayMs))) return 'canceled';
    return task.fails ? 'failed' : 'ok';
  } finally {
    if (task.holdsCourier) releaseCourier();
  }
}
