/**
 * Faults an order may ask its steps to commit (with FAULT_INJECTION=on): every
 * way a step can misbehave on a thread, so that each path by which a thread
 * is lost can be reached from outside — for tests, for demonstrations, and to
 * watch a thread killed with everything on it while its neighbours run again.
 *
 * A fault strikes when the step's simulated wait (its delay_ms) ends, in place
 * of the remote service's answer — after a payment's charge request has
 * reached the provider. A step canceled before then exits as usual, except
 * one that ignores cancellation.
 */
import { ACTION_NAMES, type ActionName } from './steps.js';

export const FAULTS = [
  'ignore_cancel', // waits on a timer of its own, deaf to cancellation, and keeps running 5 s after it is canceled
  'hang', // blocks its thread's event loop until the thread is killed
  'crash', // throws an uncaught error on its thread
  'reject', // leaves a promise rejection unhandled
  'exit', // calls process.exit on its thread
  'oom', // allocates until its thread's heap limit
] as const;
export type Fault = (typeof FAULTS)[number];

/** Which step (or compensation) commits which fault. */
export type Faults = Readonly<Partial<Record<ActionName, Fault>>>;

export const NO_FAULTS: Faults = Object.freeze({});

/** Steps and compensations a fault can be injected into. */
export const FAULT_TARGETS: readonly ActionName[] = ACTION_NAMES;
