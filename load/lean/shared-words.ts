/**
 * The lean build's shared memory, one Int32Array over one SharedArrayBuffer that the main thread makes and every step
 * thread maps: the free couriers, then one cancel word per order in flight. This module alone owns the layout.
 *
 * The main thread only stores, adds and notifies; only the step threads wait (asynchronously, so a thread holds
 * thousands of sleeping steps).
 */

/** How many couriers the Go service has: a fixed pool of five. */
export const COURIERS = 5;

/** Orders in flight at once: the comparison's widest scenario holds 5,000. */
export const MAX_IN_FLIGHT = 16_384;

/** Word 0: couriers free now. A step takes one by compare-and-exchange; a release adds one and wakes one waiter. */
export const FREE_COURIERS = 0;

/** Words 1…MAX_IN_FLIGHT: an order's cancel word, LIVE while its steps may go on, CANCELED once it failed. */
export const FIRST_CANCEL_WORD = 1;
export const LIVE = 0;
export const CANCELED = 1;

export const WORDS = FIRST_CANCEL_WORD + MAX_IN_FLIGHT;

/** What the main thread sends a step thread for one step: Piscina structured-clones it. */
export interface StepTask {
  readonly delayMs: number;
  readonly fails: boolean;
  readonly holdsCourier: boolean;
  /** The index of its order's cancel word. */
  readonly cancelWord: number;
}

/** How a step ended. */
export type StepEnd = 'ok' | 'failed' | 'canceled';
