/** Order bodies the tests use, and what the responses must look like. */
import { expect } from 'vitest';
import type { OrderResponse, StepJson } from './service.js';
import { runOf, type Order, type OrderRun } from '../../src/domain/order.js';
import { everyAction, everyStep, STEP_NAMES } from '../../src/domain/steps.js';

/** Every step of an order, in the order of the registry (and of every answer). */
export const STEP_ORDER: readonly string[] = STEP_NAMES;

/** An order `orderId` of `client` whose steps take no time, with a deadline of its own if `deadlineMs` is given. */
export function instantOrder(client: string, orderId: string, deadlineMs?: number): Order {
  return {
    client,
    orderId,
    amount: 100,
    failStep: undefined,
    failCompensation: false,
    delayMs: everyAction(0),
    cpuMs: everyStep(0),
    ...(deadlineMs === undefined ? {} : { deadlineMs }),
  };
}

/** The first run of an order `orderId` of `client` whose steps take no time: for the pipeline's rules on their own. */
export function instantRun(client: string, orderId = 'o'): OrderRun {
  return runOf(instantOrder(client, orderId), 1);
}

let serial = 0;
/** A valid order body; `overrides` replace fields. */
export function orderBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { order_id: `o-${process.pid}-${++serial}`, amount: 1200, ...overrides };
}

/**
 * An order of `key`'s client, accepted now (Prefer: respond-async) with its vendor step asleep for 20 s, inside a
 * deadline of 30: running while a test acts on it (a cancel, from a page).
 */
export async function placeRunningOrder(base: URL, key: string, orderId: string, amount = 1250): Promise<void> {
  const placed = await fetch(new URL('/order', base), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, prefer: 'respond-async' },
    body: JSON.stringify({
      order_id: orderId,
      amount,
      deadline_ms: 30_000,
      delay_ms: { payment: 0, vendor: 20_000, courier: 0 },
    }),
  });
  await placed.arrayBuffer();
  expect(placed.status).toBe(202);
}

export function stepsOf(body: OrderResponse): Record<string, StepJson> {
  expect(body.steps?.map((step) => step.name)).toEqual(STEP_ORDER);
  return Object.fromEntries(body.steps!.map((step) => [step.name, step]));
}

/** Every step that reached a thread names a worker thread (threadId 0 is the main thread). */
export function expectWorkerThreads(body: OrderResponse, threads: number): void {
  for (const step of body.steps ?? []) {
    if (step.thread_id !== undefined) expect(step.thread_id).toBeGreaterThan(0);
  }
  const ids = new Set((body.steps ?? []).flatMap((step) => (step.thread_id === undefined ? [] : [step.thread_id])));
  expect(ids.size).toBeLessThanOrEqual(threads);
}
