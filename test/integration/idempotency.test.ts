/**
 * order_id as an idempotency key: a retry joins the run under way or gets
 * the recorded outcome, a different order under the same id is refused,
 * and only final outcomes are recorded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { everyStep, STEP_NAMES } from '../../src/domain/steps.js';
import { postOrder, readFollowingRetryAfter } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { orderBody, stepsOf } from '../support/orders.js';
import { growth, sampleKey, scrapeSettled, type Samples } from '../support/prometheus.js';
import { startTestService, type OrderResponse, type TestService } from '../support/service.js';
import { eventually, pause } from '../support/wait.js';

let svc: TestService | undefined;
afterEach(async () => {
  if (svc) await expectAtRest(svc, 2);
  await svc?.shutdown();
  svc = undefined;
});

async function start(config: Partial<Config> = {}): Promise<TestService> {
  svc = await startTestService({ config: { threads: 2, ...config } });
  return svc;
}

const scrape = (service: TestService): Promise<Samples> => scrapeSettled(service.url);

/** POST an order and keep the raw answer: status, body text and headers. */
const post = (service: TestService, body: unknown, signal?: AbortSignal) => postOrder(service.url, body, signal);

/** Tasks the pool has run: an order's steps travel as one task, a refund as another. */
const tasksDone = async (service: TestService): Promise<number> =>
  (await scrape(service)).get('worker_pool_tasks_completed_total') ?? 0;
const slow = { payment: 300, vendor: 300, courier: 300 };

describe('a retry while the order runs', () => {
  it('joins it: one set of steps runs, both callers get the same answer', async () => {
    const service = await start();
    const order = orderBody({ delay_ms: slow });
    const first = post(service, order);
    await eventually(
      () => service.health(),
      (health) => health.running_steps === 3,
    );
    const second = post(service, order);
    await pause(50);
    const during = await service.health();
    const [a, b] = await Promise.all([first, second]);

    expect(during).toMatchObject({ running_steps: 3, orders_in_flight: 1 });
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(b.text).toBe(a.text);
    expect(b.replayed).toBeNull();
    const threads = (text: string) =>
      Object.values(stepsOf(JSON.parse(text) as OrderResponse)).map((step) => step.thread_id);
    expect(threads(b.text)).toEqual(threads(a.text));
    expect(growth(new Map(), await scrape(service), 'orders_deduplicated_total', { via: 'joined' })).toBe(1);
  });

  it('keeps running for the caller who stays when the other goes away', async () => {
    const service = await start();
    const order = orderBody({ delay_ms: slow });
    const leaving = new AbortController();
    const gone = post(service, order, leaving.signal);
    await eventually(
      () => service.health(),
      (health) => health.running_steps === 3,
    );
    const staying = post(service, order);
    await pause(50);
    leaving.abort();
    await expect(gone).rejects.toThrow();
    const answer = await staying;
    expect(answer.status).toBe(200);
    expect(Object.values(stepsOf(JSON.parse(answer.text) as OrderResponse)).every((step) => step.status === 'ok')).toBe(
      true,
    );
  });

  it('is canceled once every caller has gone, and runs afresh when retried', async () => {
    const service = await start();
    const order = orderBody({ delay_ms: slow });
    const callers = [new AbortController(), new AbortController()];
    const pending = callers.map((caller) => post(service, order, caller.signal).catch(() => undefined));
    await eventually(
      () => service.health(),
      (health) => health.running_steps === 3,
    );
    for (const caller of callers) caller.abort();
    await Promise.all(pending);
    await eventually(
      () => service.health(),
      (health) => health.orders_in_flight === 0,
    );
    const before = await tasksDone(service);
    const retry = await post(service, order);
    expect(retry.status).toBe(200);
    expect(retry.replayed).toBeNull();
    // One run: each of its steps one task of the pool.
    expect((await tasksDone(service)) - before).toBe(STEP_NAMES.length);
  });
});

describe('a retry after the order ended', () => {
  it.each([
    ['success', {}, 200],
    ['a declined payment', { fail_step: 'payment' }, 400],
    ['an unavailable vendor (its payment refunded)', { fail_step: 'vendor' }, 503],
  ])('gets the recorded answer to %s, status and body, and runs nothing', async (_case, extra, status) => {
    const service = await start();
    // Steps long enough that an answer sooner than the shortest cannot have run one again, on a busy machine too (a
    // replay was measured at 115 ms beside two busy loops: 10 ms steps made a 100 ms bound a coin toss).
    const shortestStepMs = 300;
    const order = orderBody({ delay_ms: { payment: shortestStepMs, vendor: 400, courier: shortestStepMs }, ...extra });
    const original = await post(service, order);
    expect(original.status).toBe(status);
    const before = await tasksDone(service);
    const started = performance.now();
    const retry = await post(service, order);
    expect(performance.now() - started).toBeLessThan(shortestStepMs);
    expect({ status: retry.status, text: retry.text, replayed: retry.replayed }).toEqual({
      status,
      text: original.text,
      replayed: 'true',
    });
    expect((await tasksDone(service)) - before).toBe(0);
  });

  it('matches the order, not the bytes: defaults spelled out and keys in another order replay too', async () => {
    const service = await start();
    const original = await post(service, { order_id: 'same-meaning', amount: 5 });
    const retry = await post(service, {
      delay_ms: { payment: 150, vendor: 200, courier: 100, refund: 50 },
      amount: 5,
      order_id: 'same-meaning',
      cpu_ms: {},
    });
    expect(retry.replayed).toBe('true');
    expect(retry.text).toBe(original.text);
  });

  it('runs afresh once the record has expired', async () => {
    // A record kept 1 s: with 200 ms, a full CI run's busy machine once took longer than that between the first answer
    // and the retry, which then ran afresh too.
    const service = await start({ idempotencyTtlMs: 1000 });
    const order = orderBody({ delay_ms: { payment: 0, vendor: 0, courier: 0 } });
    await post(service, order);
    expect((await post(service, order)).replayed).toBe('true');
    await pause(1200);
    expect((await post(service, order)).replayed).toBeNull();
  });
});

describe('the same order_id with a different order', () => {
  it('is refused with 422 idempotency_key_reuse, while the first runs and after it ended, and the first is not disturbed', async () => {
    const service = await start();
    const order = orderBody({ delay_ms: slow });
    const first = post(service, order);
    await eventually(
      () => service.health(),
      (health) => health.running_steps === 3,
    );
    const meanwhile = await post(service, { ...order, amount: 1 });
    expect(meanwhile.status).toBe(422);
    expect(JSON.parse(meanwhile.text)).toMatchObject({ status: 'error', error: { kind: 'idempotency_key_reuse' } });
    const original = await first;
    expect(original.status).toBe(200);
    expect((await post(service, { ...order, fail_step: 'vendor' })).status).toBe(422);
    const replay = await post(service, order);
    expect({ status: replay.status, text: replay.text }).toEqual({ status: 200, text: original.text });
  });
});

describe('outcomes that are not final', () => {
  it('are not recorded: a retry after a bad request, a shed order or a timeout runs afresh', async () => {
    // The blocker holds the one slot for 800 ms, within the deadline: the shed order must arrive while it does, after a
    // health read and a request on a busy machine (with 150 ms and a 200 ms deadline, a full run once got there late).
    const service = await start({ maxInflight: 1, orderTimeoutMs: 1000 });
    const order = orderBody({ delay_ms: { payment: 0, vendor: 0, courier: 0 } });

    expect((await post(service, { ...order, amount: 'lots' })).status).toBe(400);

    const blocker = post(service, orderBody({ delay_ms: { payment: 800, vendor: 800, courier: 800 } }));
    await eventually(
      () => service.health(),
      (health) => health.orders_in_flight === 1,
    );
    expect((await post(service, order)).status).toBe(503);
    await blocker;

    const late = orderBody({ delay_ms: { payment: 10, vendor: 3000, courier: 3000 } });
    const timedOut = await post(service, late);
    expect(timedOut.status).toBe(504);
    expect(JSON.parse(timedOut.text)).toMatchObject({ compensations: [{ name: 'refund', status: 'ok' }] });
    const before = await tasksDone(service);
    const retried = await post(service, late);
    expect(retried.status).toBe(504);
    expect(retried.replayed).toBeNull();
    // One run (a task a step) and its refund.
    expect((await tasksDone(service)) - before).toBe(STEP_NAMES.length + 1);

    const afterAll = await post(service, order);
    expect({ status: afterAll.status, replayed: afterAll.replayed }).toEqual({ status: 200, replayed: null });
  });
});

describe('memory', () => {
  it('never forgets an order before its time to live: past ORDER_RECORDS_MAX_MB new orders are shed, and a retry of an old one is replayed, never charged again', async () => {
    // Room for a few dozen done records (each about 90 bytes, the provider's books of it folded in), a few of them
    // running at once (each charged what it may come to, its books and money at risk while it runs: about 1 KB).
    const service = await start({ orderRecordsMaxBytes: 4_000 });
    const victim = orderBody({
      order_id: 'flood-victim',
      amount: 500,
      delay_ms: { payment: 0, vendor: 0, courier: 0 },
    });
    expect((await post(service, victim)).status).toBe(200);
    // What the flood and the retry do, counted from here: the support's warm-up sends its four orders at once, and
    // in a store this small one of them may be shed.
    const beforeFlood = await scrape(service);
    // A flood of cheap orders from someone else. Before, it evicted the
    // victim's record well inside its time to live, and the provider's
    // books of it went too: the victim's retry ran and charged again, and
    // GET /orders showed one charge.
    const flood = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const order = orderBody({ order_id: `flood-${i}`, amount: 1, delay_ms: everyStep(0) });
        const response = await fetch(new URL('/order', service.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(order),
        });
        const body = (await response.json()) as OrderResponse;
        return {
          id: order['order_id'] as string,
          status: response.status,
          kind: body.error?.kind,
          retryAfter: response.headers.get('retry-after'),
        };
      }),
    );
    const retry = await post(service, victim);
    // Read as a client does: beside the flood's end the loop may still be late, and a read turned away says when to ask.
    const record = (await (await readFollowingRetryAfter(new URL('/orders/flood-victim', service.url))).json()) as {
      runs: number;
      payment: { charged: number; refunded: number };
    };
    expect({ replayed: retry.replayed, runs: record.runs, payment: record.payment }).toEqual({
      replayed: 'true',
      runs: 1,
      payment: { charged: 500, refunded: 0 },
    });
    const shed = flood.filter(({ status }) => status !== 200);
    expect(shed.length).toBeGreaterThan(100);
    expect(new Set(shed.map(({ status, kind, retryAfter }) => `${status} ${kind} ${retryAfter}`))).toEqual(
      new Set(['503 overloaded 1']),
    );
    // Shed before anything started: no record, no money.
    const { id: shedId } = shed[0]!;
    expect((await readFollowingRetryAfter(new URL(`/orders/${shedId}`, service.url))).status).toBe(404);
    // Readiness says so, for a balancer to send the next orders elsewhere.
    const ready = await fetch(new URL('/readyz', service.url));
    expect({ status: ready.status, body: await ready.json() }).toMatchObject({
      status: 503,
      body: { status: 'shedding' },
    });
    const metrics = await scrape(service);
    const since = (name: string): number => (metrics.get(name) ?? 0) - (beforeFlood.get(name) ?? 0);
    expect(since('orders_shed_total')).toBe(shed.length);
    // Charged once each: the flood's orders served, the victim's retry not again.
    expect(since(sampleKey('payments_total', { outcome: 'charged' }))).toBe(flood.length - shed.length);
  });
});
