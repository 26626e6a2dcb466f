/**
 * POST /orders/{order_id}/cancel on one instance, over real HTTP and real
 * worker threads: a running order's steps are canceled where they run, what
 * it charged is refunded, it ends canceled with its events; the cancel is
 * idempotent, 409 for an order that ended otherwise, the client's own or the
 * admin's; and a cancel racing the order's own end never leaves money taken.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rawRequestFollowingRetryAfter, rawRequest, type RawResponse } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { captureLog, type CapturedLog } from '../support/log-capture.js';
import { orderBody, stepsOf } from '../support/orders.js';
import { mulberry32 } from '../support/random.js';
import { startTestService, type TestService } from '../support/service.js';
import { ACME, ADMIN, GLOBEX, TWO_CLIENTS } from '../support/two-clients.js';
import { eventually } from '../support/wait.js';

const THREADS = 2;
let svc: TestService;
let log: CapturedLog;

beforeAll(async () => {
  log = captureLog();
  svc = await startTestService({
    config: { threads: THREADS, access: TWO_CLIENTS, orderTimeoutMs: 20_000 },
    logger: log.logger,
  });
});
afterEach(async () => expectAtRest(svc, THREADS));
afterAll(async () => svc.shutdown());

interface Status {
  state: 'running' | 'done';
  lifecycle: string;
  outcome: { kind: string; http_status: number } | null;
  payment: { charged: number; refunded: number };
}

/** A GET turned away 503 with Retry-After (the loop late) is asked again when it says, as a client does. */
const call = (method: string, path: string, key: string): Promise<RawResponse> =>
  (method === 'GET' ? rawRequestFollowingRetryAfter : rawRequest)(svc.url, {
    method,
    path,
    headers: { authorization: `Bearer ${key}` },
  });
const cancel = (orderId: string, key = ACME, query = ''): Promise<RawResponse> =>
  call('POST', `/orders/${encodeURIComponent(orderId)}/cancel${query}`, key);
const status = async (orderId: string, key = ACME): Promise<Status> => {
  const read = await call('GET', `/orders/${encodeURIComponent(orderId)}`, key);
  expect(read.status, read.text).toBe(200);
  return read.json() as Status;
};

/** An order whose payment is taken at once and whose vendor and courier take seconds: canceled while they run. */
const slowOrder = (orderId: string): Record<string, unknown> =>
  orderBody({ order_id: orderId, amount: 700, delay_ms: { payment: 0, vendor: 5000, courier: 5000 } });

/** Sends the order and waits until its payment is taken, while its vendor and courier steps sleep for seconds. */
async function runningAndCharged(
  orderId: string,
  key = ACME,
): Promise<{ readonly answered: ReturnType<TestService['order']> }> {
  const answered = svc.order(slowOrder(orderId), { key });
  await eventually(
    () => call('GET', `/orders/${orderId}`, key),
    (found) => found.status === 200 && (found.json() as Status).payment.charged === 700,
  );
  // Wrapped: a promise returned from an async function would be awaited with it.
  return { answered };
}

describe('a cancel of an order under way', () => {
  it('cancels its running steps, refunds its payment, ends it canceled with its events; a retry is replayed so', async () => {
    const { answered } = await runningAndCharged('cancel-me');
    const sent = performance.now();
    const canceled = await cancel('cancel-me');
    const cancelMs = performance.now() - sent;
    expect(canceled.status, canceled.text).toBe(200);
    expect(canceled.json()).toMatchObject({
      order_id: 'cancel-me',
      state: 'done',
      lifecycle: 'canceled',
      outcome: { kind: 'canceled', http_status: 409 },
      payment: { charged: 700, refunded: 700 },
    });
    // The steps had seconds still to sleep: the cancel reached them, it did not wait them out.
    expect(cancelMs).toBeLessThan(2000);
    const { status: orderStatus, body } = await answered;
    expect(orderStatus).toBe(409);
    expect(body.error?.kind).toBe('canceled');
    expect(stepsOf(body)['vendor']).toMatchObject({ status: 'canceled', detail: 'canceled: canceled' });
    expect(stepsOf(body)['courier']).toMatchObject({ status: 'canceled' });
    expect(body.compensations).toMatchObject([{ name: 'refund', status: 'ok' }]);
    const events = (await call('GET', '/events?limit=1000', ACME)).json() as {
      events: Array<{ type: string; data: { order_id: string; payment: { charged: number; refunded: number } } }>;
    };
    const mine = events.events.filter((event) => event.data.order_id === 'cancel-me');
    expect(mine.map((event) => event.type)).toEqual(['order.canceled', 'payment.refunded']);
    expect(mine[0]!.data.payment).toEqual({ charged: 700, refunded: 700 });
    const retry = await svc.order(slowOrder('cancel-me'), { key: ACME });
    expect(retry.status).toBe(409);
    expect(retry.body.error?.kind).toBe('canceled');
  });

  it('is idempotent: a second cancel answers as the first, and changes nothing', async () => {
    const { answered } = await runningAndCharged('twice');
    const [first, second] = await Promise.all([cancel('twice'), cancel('twice')]);
    await answered;
    const third = await cancel('twice');
    for (const answer of [first, second, third]) {
      expect(answer.status, answer.text).toBe(200);
      expect(answer.json()).toMatchObject({ lifecycle: 'canceled', payment: { charged: 700, refunded: 700 } });
    }
  });

  it("is 409 order_ended for an order that ended otherwise, with its lifecycle; 404 for one unknown or another client's", async () => {
    expect((await svc.order(orderBody({ order_id: 'done-already', amount: 300 }), { key: ACME })).status).toBe(200);
    const refused = await cancel('done-already');
    expect(refused.status, refused.text).toBe(409);
    expect(refused.json()).toMatchObject({ error: { kind: 'order_ended' }, lifecycle: 'succeeded' });
    expect(await status('done-already')).toMatchObject({
      lifecycle: 'succeeded',
      payment: { charged: 300, refunded: 0 },
    });
    expect((await cancel('never-sent')).status).toBe(404);
    const { answered } = await runningAndCharged('acme-own');
    expect((await cancel('acme-own', GLOBEX)).status).toBe(404);
    expect((await cancel('acme-own', GLOBEX, '?client=acme')).status).toBe(403);
    expect((await status('acme-own')).lifecycle).toBe('running');
    await cancel('acme-own');
    await answered;
  });

  it("is the admin's too, naming the client, with an audit line", async () => {
    const { answered } = await runningAndCharged('admin-cancels');
    const canceled = await cancel('admin-cancels', ADMIN, '?client=acme');
    expect(canceled.status, canceled.text).toBe(200);
    expect(canceled.json()).toMatchObject({ lifecycle: 'canceled', payment: { charged: 700, refunded: 700 } });
    expect((await answered).status).toBe(409);
    expect(log.lines.find((line) => line['audit'] === 'order_canceled')).toMatchObject({ order_id: 'admin-cancels' });
  });

  it('is kept with the order: its timeline says who canceled it, with which admin key, and when', async () => {
    const cases = [
      { orderId: 'canceled-by-its-client', key: ACME, query: '', actor: 'acme' },
      { orderId: 'canceled-by-the-admin', key: ADMIN, query: '?client=acme', actor: 'admin' },
    ];
    for (const { orderId, key, query, actor } of cases) {
      const { answered } = await runningAndCharged(orderId);
      const before = Date.now();
      expect((await cancel(orderId, key, query)).status).toBe(200);
      const after = Date.now();
      await answered;
      const timeline = (await call('GET', `/orders/${orderId}/timeline`, ACME)).json() as {
        canceled_by?: { actor: string; actor_key?: string; at: string };
      };
      expect(timeline.canceled_by, orderId).toMatchObject({ actor });
      const at = Date.parse(timeline.canceled_by!.at);
      expect(at).toBeGreaterThanOrEqual(before);
      expect(at).toBeLessThanOrEqual(after);
      // Which admin key, by its fingerprint, never the key; a client's key is its client.
      if (actor === 'admin') expect(timeline.canceled_by!.actor_key).toMatch(/^sha256:[0-9a-f]{12}$/);
      else expect(timeline.canceled_by).not.toHaveProperty('actor_key');
    }
    // An order nobody canceled says nobody.
    expect((await svc.order(orderBody({ order_id: 'not-canceled', amount: 300 }), { key: ACME })).status).toBe(200);
    expect((await call('GET', '/orders/not-canceled/timeline', ACME)).json()).not.toHaveProperty('canceled_by');
  });
});

describe('a cancel racing the order’s own end', () => {
  it('either finds it ended and changes nothing, or ends it canceled with nothing charged: never money taken', async () => {
    const seed = Number(process.env['TEST_SEED'] ?? Date.now() % 1_000_000);
    console.log(`cancel race seed: ${seed} (TEST_SEED=${seed} repeats it)`);
    const random = mulberry32(seed);
    const outcomes = new Map<string, number>();
    await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const orderId = `race-${seed}-${i}`;
        const delay = Math.floor(random() * 30);
        const answered = svc.order(
          orderBody({ order_id: orderId, amount: 500, delay_ms: { payment: 0, vendor: delay, courier: delay } }),
          { key: ACME },
        );
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 40)));
        const canceled = await cancel(orderId);
        const order = await answered;
        const found = await status(orderId);
        if (canceled.status === 404) {
          // Sent before the order's run was begun: nothing to cancel yet, and it runs to its end.
          expect(order.status).toBe(200);
          expect(found.payment).toEqual({ charged: 500, refunded: 0 });
        } else if (canceled.status === 200) {
          expect(found).toMatchObject({ lifecycle: 'canceled' });
          expect(order.status).toBe(409);
          expect(found.payment.charged).toBe(found.payment.refunded);
        } else {
          expect(canceled.status, canceled.text).toBe(409);
          expect(canceled.json()).toMatchObject({ lifecycle: 'succeeded' });
          expect(order.status).toBe(200);
          expect(found.payment).toEqual({ charged: 500, refunded: 0 });
        }
        const kind = `${canceled.status} ${found.lifecycle}`;
        outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
      }),
    );
    console.log(`cancel race outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  });
});
