/**
 * Accepted now, answered later (RFC 7240 `Prefer`), over real HTTP and real
 * worker threads: `respond-async` is 202 with Location and
 * Preference-Applied once the order is under way, and the order runs on
 * after its client has gone; `wait=N` answers as without the header when the
 * order ends in time, and 202 otherwise, with `respond-async` or without; a retry of an accepted order joins
 * its run — never a second one — and once it has ended is told its end.
 * An order's own deadline (`deadline_ms`) replaces ORDER_TIMEOUT_MS, within
 * ORDER_DEADLINE_MAX_MS.
 */
import { Agent } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, type RawResponse } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { orderBody } from '../support/orders.js';
import { startTestService, type TestService } from '../support/service.js';
import { eventually } from '../support/wait.js';

const THREADS = 2;
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ config: { threads: THREADS, orderTimeoutMs: 20_000 } });
});
afterEach(async () => expectAtRest(svc, THREADS));
afterAll(async () => svc.shutdown());

/** Each request on a connection of its own, closed once answered: a client that leaves after its answer. */
const post = (body: Record<string, unknown>, prefer?: string): Promise<RawResponse> =>
  rawRequest(svc.url, {
    headers: { 'content-type': 'application/json', ...(prefer ? { prefer } : {}) },
    body: JSON.stringify(body),
    agent: new Agent({ keepAlive: false }),
  });
const status = async (orderId: string): Promise<{ state: string; lifecycle: string; runs: number }> =>
  (await rawRequest(svc.url, { method: 'GET', path: `/orders/${orderId}` })).json() as never;

describe('Prefer: respond-async', () => {
  it('is 202 with Location and Preference-Applied once the order is under way; the order runs on to its end', async () => {
    const body = orderBody({ order_id: 'later', delay_ms: { payment: 0, vendor: 800, courier: 0 } });
    const sent = performance.now();
    const accepted = await post(body, 'respond-async');
    const acceptedMs = performance.now() - sent;
    expect(accepted.status, accepted.text).toBe(202);
    expect(accepted.json()).toEqual({ status: 'accepted', order_id: 'later', lifecycle: 'accepted' });
    expect(accepted.headers['location']).toBe('/orders/later');
    expect(accepted.headers['preference-applied']).toBe('respond-async');
    // When to look at the Location again: a second from now.
    expect(accepted.headers['retry-after']).toBe('1');
    // Answered long before the vendor's 800 ms: the client did not wait for the end.
    expect(acceptedMs).toBeLessThan(700);
    // The client has gone with its answer: the order runs on all the same.
    expect(await status('later')).toMatchObject({ state: 'running', lifecycle: 'running' });
    await eventually(
      () => status('later'),
      (found) => found.state === 'done',
    );
    expect(await status('later')).toMatchObject({ lifecycle: 'succeeded', runs: 1 });
    const replay = await post(body);
    expect(replay.status).toBe(200);
    expect(replay.headers['idempotent-replayed']).toBe('true');
  });

  it('of an order under way: a retry joins its run, answered 202 too — never a second run', async () => {
    const body = orderBody({ order_id: 'retried', delay_ms: { payment: 0, vendor: 800, courier: 0 } });
    expect((await post(body, 'respond-async')).status).toBe(202);
    const retry = await post(body, 'respond-async');
    expect(retry.status).toBe(202);
    const waited = await post(body);
    expect(waited.status).toBe(200);
    expect(await status('retried')).toMatchObject({ lifecycle: 'succeeded', runs: 1 });
  });

  it('of an order refused at once is that refusal, not 202', async () => {
    const refused = await post({ order_id: 'bad' }, 'respond-async');
    expect(refused.status).toBe(400);
  });
});

describe('Prefer: wait=N', () => {
  it('on an order that ends within N seconds is the answer without the header', async () => {
    const instant = { payment: 0, vendor: 0, courier: 0 };
    const plain = await post(orderBody({ order_id: 'plain', delay_ms: instant }));
    const waited = await post(orderBody({ order_id: 'waited', delay_ms: instant }), 'wait=5');
    expect(waited.status).toBe(plain.status);
    expect(waited.headers['preference-applied']).toBeUndefined();
    const shape = (answer: RawResponse) => {
      const { order_id: _id, steps, ...rest } = answer.json() as { order_id: string; steps: Array<{ name: string }> };
      return { ...rest, steps: steps.map((step) => step.name) };
    };
    expect(shape(waited)).toEqual(shape(plain));
  });

  it.each([
    ['wait=1', 'outlasts'],
    ['respond-async, wait=1', 'both-outlasts'],
  ])(
    '%s on an order that outlasts N seconds is 202 after N seconds, saying so, and the order runs on',
    async (prefer, orderId) => {
      const sent = performance.now();
      const accepted = await post(
        orderBody({ order_id: orderId, delay_ms: { payment: 0, vendor: 2500, courier: 0 } }),
        prefer,
      );
      const acceptedMs = performance.now() - sent;
      expect(accepted.status, accepted.text).toBe(202);
      expect(accepted.headers['preference-applied']).toBe(prefer);
      expect(accepted.headers['retry-after']).toBe('1');
      expect(accepted.headers['location']).toBe(`/orders/${orderId}`);
      expect(acceptedMs).toBeGreaterThanOrEqual(990);
      expect(acceptedMs).toBeLessThan(2400);
      await eventually(
        () => status(orderId),
        (found) => found.state === 'done',
        { within: 5000 },
      );
      expect(await status(orderId)).toMatchObject({ lifecycle: 'succeeded', runs: 1 });
    },
  );

  it("longer than the order's deadline waits for its end, however long: never a timer past what setTimeout counts", async () => {
    const warnings: string[] = [];
    const warned = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', warned);
    try {
      // 2,147,484 s is the first whole second past setTimeout's 2^31 - 1 ms; 999,999,999 the longest wait=N read.
      for (const [orderId, seconds] of [
        ['overflows', 2_147_484],
        ['longest', 999_999_999],
      ] as const) {
        const sent = performance.now();
        const answer = await post(
          orderBody({ order_id: orderId, delay_ms: { payment: 0, vendor: 800, courier: 0 } }),
          `wait=${seconds}`,
        );
        const answeredMs = performance.now() - sent;
        expect(answer.status, `wait=${seconds}: ${answer.text}`).toBe(200);
        expect(answer.headers['preference-applied']).toBeUndefined();
        expect(answeredMs).toBeGreaterThanOrEqual(750);
      }
      // As long as the order's own deadline: its end, the deadline's 504 — not a 202 racing it.
      const cut = await post(
        orderBody({ order_id: 'cut', deadline_ms: 1000, delay_ms: { payment: 0, vendor: 3000, courier: 0 } }),
        'wait=1',
      );
      expect(cut.status, cut.text).toBe(504);
      // Node warns on the next turn of the loop after the timer is set: long past by now.
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', warned);
    }
  });
});

describe('Prefer: respond-async, wait=N', () => {
  it('answers in full, as without the header, an order that ends within N seconds (202 after N: above)', async () => {
    const instant = { payment: 0, vendor: 0, courier: 0 };
    const within = await post(orderBody({ order_id: 'both-within', delay_ms: instant }), 'respond-async, wait=5');
    expect(within.status, within.text).toBe(200);
    expect(within.json()).toMatchObject({ status: 'ok', order_id: 'both-within' });
    expect(within.headers['preference-applied']).toBeUndefined();
  });
});

describe('deadline_ms', () => {
  it("is the order's own deadline, in place of ORDER_TIMEOUT_MS: shorter cuts it, longer lets it run", async () => {
    const cut = await post(
      orderBody({ order_id: 'short', deadline_ms: 300, delay_ms: { payment: 0, vendor: 3000, courier: 0 } }),
    );
    expect(cut.status, cut.text).toBe(504);
    const long = await post(
      orderBody({ order_id: 'long', deadline_ms: 240_000, delay_ms: { payment: 0, vendor: 300, courier: 0 } }),
      'respond-async',
    );
    expect(long.status, long.text).toBe(202);
    await eventually(
      () => status('long'),
      (found) => found.state === 'done',
    );
    expect(await status('long')).toMatchObject({ lifecycle: 'succeeded' });
  });

  it('is bounded by ORDER_DEADLINE_MAX_MS, and part of what the order asks for', async () => {
    const over = await post(orderBody({ order_id: 'over', deadline_ms: 300_001 }));
    expect(over.status).toBe(400);
    expect(over.json()).toMatchObject({ error: { message: 'deadline_ms: at most 300000 (ORDER_DEADLINE_MAX_MS)' } });
    const instant = { payment: 0, vendor: 0, courier: 0 };
    expect((await post(orderBody({ order_id: 'asked', deadline_ms: 5000, delay_ms: instant }))).status).toBe(200);
    expect((await post(orderBody({ order_id: 'asked', deadline_ms: 6000, delay_ms: instant }))).status).toBe(422);
  });
});
