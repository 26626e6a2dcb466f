/**
 * A retry of a done order is answered as the first answer was, byte for byte
 * — status and body, every step's name, status, duration, thread, detail,
 * fate, attempts and retries, its compensations — although a done order is
 * kept as a few dozen bytes, not as the answer (src/orders/done-records.ts):
 * the README's example and the API document's, a success, each step failing
 * (the payment refunded), a refund refused, a thread lost under its step, a
 * step retried through a partial outage. And `GET /orders/{id}` says what
 * became of it and of its money, as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { everyStep } from '../../src/domain/steps.js';
import { type OrderAnswerText, postOrder, rawRequest, readFollowingRetryAfter } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { startTestService, type TestService } from '../support/service.js';

const THREADS = 2;
let svc: TestService;
let sent = 0;

beforeAll(async () => {
  svc = await startTestService({ config: { threads: THREADS, faultInjection: true, stepRetries: everyStep(10) } });
});
afterAll(async () => {
  await expectAtRest(svc, THREADS);
  await svc.shutdown();
});

const post = (body: Record<string, unknown>) => postOrder(svc.url, body);

const freshId = (): string => `replay-${process.pid}-${++sent}`;

/** Sends `order` again: the answer is `first`, replayed. */
async function expectReplayed(body: Record<string, unknown>, first: OrderAnswerText): Promise<void> {
  const again = await post(body);
  expect({ status: again.status, text: again.text, replayed: again.replayed }).toEqual({
    status: first.status,
    text: first.text,
    replayed: 'true',
  });
}

async function statusOf(id: string): Promise<unknown> {
  const response = await readFollowingRetryAfter(new URL(`/orders/${id}`, svc.url));
  expect(response.status).toBe(200);
  return response.json();
}

describe('a retry of a done order', () => {
  it.each([
    [
      "the README's example: the payment declined, the others canceled",
      { amount: 1200, fail_step: 'payment', delay_ms: { vendor: 800, courier: 800 } },
      400,
      '"detail":"canceled: payment_declined"',
    ],
    ["the API document's plain order", { amount: 1200 }, 200, '"thread_id":'],
    ['a success in a few milliseconds', { amount: 1200, delay_ms: everyStep(3) }, 200, '"status":"ok"'],
    [
      'the vendor failing, the payment refunded',
      { amount: 900, fail_step: 'vendor', delay_ms: everyStep(5) },
      503,
      '"compensations":[{"name":"refund","status":"ok"',
    ],
    [
      'the courier failing, the payment refunded',
      { amount: 900, fail_step: 'courier', delay_ms: everyStep(5) },
      503,
      '"detail":"no_courier"',
    ],
    [
      'a refund refused',
      { amount: 900, fail_step: 'vendor', fail_compensation: true, delay_ms: everyStep(5) },
      500,
      '"detail":"refund_failed"',
    ],
    [
      'a thread lost under its step',
      { amount: 900, delay_ms: { payment: 20, vendor: 300, courier: 300 }, faults: { payment: 'crash' } },
      500,
      '"thread_fate":"died"',
    ],
  ])('is answered as the first time: %s', async (_case, order, status, saying) => {
    const id = freshId();
    const first = await post({ ...order, order_id: id });
    expect({ status: first.status, replayed: first.replayed }).toEqual({ status, replayed: null });
    expect(first.text).toContain(saying);
    await expectReplayed({ ...order, order_id: id }, first);
    expect(await statusOf(id)).toMatchObject({ order_id: id, state: 'done', runs: 1 });
  });

  it('is answered as the first time when a step was retried through a partial outage, retries and all', async () => {
    const outage = (on: boolean) =>
      rawRequest(svc.url, {
        path: '/admin/dependencies/vendor',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(on ? { outage: true, failure_ratio: 0.3 } : { outage: false }),
      });
    expect((await outage(true)).status).toBe(200);
    try {
      // A third of the vendor's calls fail: within a few orders, one succeeds after a retry. (Eleven calls failing in a
      // row, one in 600,000, would fail the order by the dependency's fault: not final, so not replayed.)
      let retried: string | undefined;
      for (let i = 0; i < 60 && retried === undefined; i++) {
        const body = { amount: 300, delay_ms: everyStep(2), order_id: freshId() };
        const first = await post(body);
        if (first.status !== 200 || !first.text.includes('"retries":')) continue;
        await expectReplayed(body, first);
        retried = body.order_id;
      }
      expect(retried).toBeDefined();
      expect(await statusOf(retried!)).toMatchObject({
        state: 'done',
        outcome: { http_status: 200, kind: 'ok' },
        payment: { charged: 300, refunded: 0 },
      });
    } finally {
      await outage(false);
    }
  });
});
