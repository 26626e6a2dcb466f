/**
 * An order as the pipeline and its steps see it: decoded, validated, with
 * every default filled in. Plain data, so it crosses into worker threads by
 * structured clone unchanged.
 */
import type { Faults } from './faults.js';
import type { Tier } from './tier.js';
import { isCompensation, type ActionName, type PerAction, type PerStep, type StepName } from './steps.js';

export { ACTION_NAMES, COMPENSATION_NAMES, DEFAULT_DELAY_MS, everyAction, everyStep, STEP_NAMES } from './steps.js';
export type { ActionName, CompensationName, PerAction, PerStep, StepName } from './steps.js';

/** An order id's length at most, in UTF-16 code units: what a record is sized for. */
export const MAX_ORDER_ID_LENGTH = 128;
/** A client's name's length at most (CLIENT_NAME in src/auth/caller.ts). */
export const MAX_CLIENT_NAME_LENGTH = 64;

export interface Order {
  /** Who sent it: the client its API key names (the one anonymous client in open mode). */
  readonly client: string;
  /** The client's idempotency key for it: unique among that client's orders, not across clients. */
  readonly orderId: string;
  readonly amount: number;
  /** The step told to fail after its delay, if any. */
  readonly failStep: StepName | undefined;
  /** Whether the refund of this order's payment is told to fail (to exercise that path). */
  readonly failCompensation: boolean;
  /** Simulated I/O wait per step and compensation; 0 means no wait. */
  readonly delayMs: PerAction<number>;
  /** CPU work per step, computed (not slept) on the step's thread. */
  readonly cpuMs: PerStep<number>;
  /** Faults injected into its steps (only with FAULT_INJECTION=on); absent or empty: none. */
  readonly faults?: Faults;
  /**
   * The tier it runs at (src/domain/tier.ts): its client's, or lower if the request asked (Order-Tier). Absent:
   * standard. Not part of what the order asks for: a retry at another tier is the same order.
   */
  readonly tier?: Tier;
  /** Its own deadline (`deadline_ms`, at most ORDER_DEADLINE_MAX_MS); absent: ORDER_TIMEOUT_MS. */
  readonly deadlineMs?: number;
}

/** The CPU work an action asks for: compensations compute nothing. */
export function cpuMsOf(order: Order, action: ActionName): number {
  return isCompensation(action) ? 0 : order.cpuMs[action];
}

/**
 * One execution of an order. A retry after an outcome that is not final (a
 * timeout, a client that left) is a new run, numbered from 1; a step run again
 * on another thread after its thread was lost is still the same run. The
 * payment provider's idempotency key is the order id and the run.
 */
export interface OrderRun {
  readonly order: Order;
  /**
   * Its key, made once for the run: a key made anew is a new string, which every Map it is looked up in hashes and
   * interns again (6% of the main thread's time in the pool benchmark).
   */
  readonly key: OrderKey;
  /**
   * Which run this is: with the order id, the payment provider's idempotency
   * key. 1, 2, … per order in memory; in Postgres drawn from one sequence
   * for all orders (GET /orders/{id} counts an order's runs apart, `runs`).
   */
  readonly runNumber: number;
}

declare const orderKeyBrand: unique symbol;

/**
 * Where everything kept of an order is filed — its record, the provider's
 * books of it, what the gateway and the voider keep of it: its client and
 * its id. The same order_id from two clients is two orders that never meet.
 * Written `client:order_id`: a client's name has no colon (CLIENT_NAME in
 * src/auth/caller.ts), so the first colon splits it.
 */
export type OrderKey = string & { readonly [orderKeyBrand]: true };

export function orderKey(client: string, orderId: string): OrderKey {
  return `${client}:${orderId}` as OrderKey;
}

export const keyOfOrder = (order: Pick<Order, 'client' | 'orderId'>): OrderKey => orderKey(order.client, order.orderId);

/** Run `runNumber` of `order`, with its key. */
export const runOf = (order: Order, runNumber: number, key: OrderKey = keyOfOrder(order)): OrderRun => ({
  order,
  key,
  runNumber,
});

/** The client and the order id a key was made of. */
export function partsOfKey(key: OrderKey): { readonly client: string; readonly orderId: string } {
  const colon = key.indexOf(':');
  return { client: key.slice(0, colon), orderId: key.slice(colon + 1) };
}

/** How a log line names an order: its client and its id, apart (the fields operators search by). */
export function orderLogFields(key: OrderKey): { readonly client: string; readonly order_id: string } {
  const { client, orderId } = partsOfKey(key);
  return { client, order_id: orderId };
}
