/**
 * The operator's views over HTTP, in memory: GET /orders (filters, keyset
 * paging with the feed's cursors) and GET /orders/{id}/timeline (why an order
 * failed, on which thread, and its money), with each client seeing only its
 * own orders.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIFECYCLE_STATES } from '../../src/domain/lifecycle.js';
import { followingRetryAfter, readFollowingRetryAfter } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { placeRunningOrder } from '../support/orders.js';
import { startTestService, TEST_CONFIG, type TestService } from '../support/service.js';
import { ACME, ADMIN, GLOBEX, TWO_CLIENTS } from '../support/two-clients.js';

interface Listed {
  order_id: string;
  client: string;
  state: string;
  outcome: { kind: string } | null;
  lifecycle: string;
}
interface ListJson {
  orders: Listed[];
  next: string | null;
}
interface TimelineJson {
  order_id: string;
  runs: number;
  outcome: { kind: string; http_status: number } | null;
  failure: { kind: string; step: string | null; thread_id: number | null } | null;
  payment: { charged: number; refunded: number };
  steps: Array<{ name: string; status: string; thread_id?: number; kind?: string; cause?: string }>;
  compensations: Array<{ name: string; status: string }>;
  events: Array<{ type: string; data: { order_id: string } }>;
  step_attempts?: unknown[];
  deadline_ms: number;
  run_started_at?: string;
  redrivable: boolean;
}

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ config: { access: TWO_CLIENTS } });
});
afterAll(async () => {
  await svc?.shutdown();
});

async function get<T>(path: string, key: string): Promise<{ status: number; body: T }> {
  // A read turned away 503 with Retry-After (the loop late beside busy cores) is asked again when it says.
  const response = await readFollowingRetryAfter(new URL(path, svc.url), {
    headers: { authorization: `Bearer ${key}` },
  });
  return { status: response.status, body: (await response.json()) as T };
}

/** Every page of the list at `path`, followed to its end; `between` runs after each page. */
async function everyPage(path: string, key: string, between: () => Promise<unknown> = async () => {}) {
  const listed: Listed[] = [];
  let cursor: string | null = null;
  for (;;) {
    const url = new URL(path, svc.url);
    if (cursor) url.searchParams.set('cursor', cursor);
    const page = await get<ListJson>(url.pathname + url.search, key);
    expect(page.status).toBe(200);
    listed.push(...page.body.orders);
    if (!page.body.next) return listed;
    cursor = page.body.next;
    await between();
  }
}

const FAILURES = [
  { fail_step: 'payment', kind: 'payment_declined', step: 'payment' },
  { fail_step: 'vendor', kind: 'vendor_unavailable', step: 'vendor' },
  { fail_step: 'courier', kind: 'no_courier', step: 'courier' },
] as const;
const QUICK = { payment: 5, vendor: 5, courier: 5 };
const STATUS_OF = { payment_declined: 400, vendor_unavailable: 503, no_courier: 503 } as const;

describe('GET /orders and GET /orders/{id}/timeline', () => {
  it('finds each failed order of 50 through the filters; its timeline names the step, thread, cause and money', async () => {
    // Two in five succeed; the others fail at each step in turn.
    const placed = Array.from({ length: 50 }, (_, i) => {
      const failure = FAILURES[i % 5];
      return {
        order_id: `mixed-${i}`,
        key: i % 2 === 0 ? ACME : GLOBEX,
        client: i % 2 === 0 ? 'acme' : 'globex',
        failure,
      };
    });
    // Sent at once, as two clients would, each sending again what was turned away before it started (503 overloaded,
    // Retry-After): on a busy machine the loop runs late, and a client past its share of a burst is told to come back
    // (client-load.ts). A failed step's 503 is an answer, and is kept.
    const answers = await Promise.all(
      placed.map(({ order_id, key, failure }) =>
        followingRetryAfter(
          () =>
            svc.order(
              { order_id, amount: 700, delay_ms: QUICK, ...(failure ? { fail_step: failure.fail_step } : {}) },
              { key },
            ),
          (answer) => (answer.body.error?.kind === 'overloaded' ? answer.retryAfter : null),
        ),
      ),
    );
    expect(answers.map(({ status, body }, i) => `${placed[i]!.order_id} ${status} ${body.error?.kind ?? ''}`)).toEqual(
      placed.map(
        ({ order_id, failure }) => `${order_id} ${failure ? STATUS_OF[failure.kind] : 200} ${failure?.kind ?? ''}`,
      ),
    );

    for (const client of ['acme', 'globex']) {
      const failed = await everyPage(`/orders?state=failed&client=${client}&limit=7`, ADMIN);
      const expected = placed.filter((p) => p.client === client && p.failure).map((p) => p.order_id);
      expect(failed.map((order) => order.order_id).sort()).toEqual(expected.sort());
      for (const order of failed) {
        const { failure } = placed.find((p) => p.order_id === order.order_id)!;
        const { status, body } = await get<TimelineJson>(`/orders/${order.order_id}/timeline?client=${client}`, ADMIN);
        expect(status).toBe(200);
        expect(body.failure).toMatchObject({ kind: failure!.kind, step: failure!.step });
        expect(body.failure!.thread_id).toBeGreaterThan(0);
        const step = body.steps.find((s) => s.name === failure!.step)!;
        expect(step).toMatchObject({ status: 'error', kind: failure!.kind, thread_id: body.failure!.thread_id });
        // The money: nothing kept of a failed order.
        expect(body.payment.charged - body.payment.refunded).toBe(0);
        if (failure!.step !== 'payment') expect(body.compensations.map((c) => c.name)).toContain('refund');
        expect(body.events.map((event) => event.type)).toContain('order.failed');
        // In memory no attempt is recorded, nor anything to redrive; sent none of its own, its deadline is the service's.
        expect(body).not.toHaveProperty('step_attempts');
        expect(body).not.toHaveProperty('run_started_at');
        expect(body).toMatchObject({ deadline_ms: TEST_CONFIG.orderTimeoutMs, redrivable: false });
      }
    }
    const succeeded = await everyPage('/orders?state=succeeded', ADMIN);
    expect(succeeded).toHaveLength(placed.filter((p) => !p.failure).length);
    await expectAtRest(svc, 2);
  });

  it("lists a timed-out order's steps as its 504 did: the step still running when its deadline passed, canceled by it", async () => {
    const late = { payment: 5, vendor: 5, courier: 3000 };
    const answer = await svc.order(
      { order_id: 'late-courier', amount: 400, delay_ms: late, deadline_ms: 300 },
      { key: ACME },
    );
    expect(answer.status).toBe(504);
    const told = (answer.body as { steps: Array<{ name: string; status: string }> }).steps;
    const { status, body } = await get<TimelineJson>('/orders/late-courier/timeline', ACME);
    expect(status).toBe(200);
    expect(body.outcome).toMatchObject({ kind: 'timeout', http_status: 504 });
    expect(body.failure).toEqual({ kind: 'timeout', step: null, thread_id: null });
    expect(body.steps.map(({ name, status }) => ({ name, status }))).toEqual(
      told.map(({ name, status }) => ({ name, status })),
    );
    expect(body.steps.find((step) => step.name === 'courier')).toMatchObject({ status: 'canceled', cause: 'timeout' });
    expect(body.steps.filter((step) => step.status === 'ok').map((step) => step.name)).toEqual(['payment', 'vendor']);
    // The payment, taken before the deadline, was given back: its refund is listed.
    expect(body.compensations.map((step) => step.name)).toEqual(['refund']);
    // Shown, never replayed: a retry runs it again, and its timeline is the new run's.
    const again = await svc.order(
      { order_id: 'late-courier', amount: 400, delay_ms: late, deadline_ms: 300 },
      { key: ACME },
    );
    expect(again.status).toBe(504);
    expect((await get<{ runs: number }>('/orders/late-courier/timeline', ACME)).body.runs).toBe(2);
    await expectAtRest(svc, 2);
  });

  it('pages every order exactly once while new orders arrive', async () => {
    const before = await everyPage('/orders?client=globex&limit=100', ADMIN);
    let arrived = 0;
    const listed = await everyPage('/orders?client=globex&limit=4', ADMIN, () =>
      svc.order({ order_id: `arriving-${arrived++}`, amount: 100, delay_ms: QUICK }, { key: GLOBEX }),
    );
    expect(arrived).toBeGreaterThan(5);
    const ids = listed.map((order) => order.order_id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => !id.startsWith('arriving-'))).toEqual(before.map((order) => order.order_id));
    await expectAtRest(svc, 2);
  });

  it('lists a canceled order as canceled and finds it by state=canceled, never among the failed; every state of an order’s life is a filter', async () => {
    await placeRunningOrder(svc.url, ACME, 'to-cancel');
    const canceled = await fetch(new URL('/orders/to-cancel/cancel', svc.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${ACME}` },
    });
    expect(canceled.status, await canceled.text()).toBe(200);
    await svc.order({ order_id: 'declined', amount: 100, delay_ms: QUICK, fail_step: 'payment' }, { key: ACME });
    const found = await get<ListJson>('/orders?state=canceled', ACME);
    expect(found.status, JSON.stringify(found.body)).toBe(200);
    expect(found.body.orders.map(({ order_id, lifecycle }) => ({ order_id, lifecycle }))).toEqual([
      { order_id: 'to-cancel', lifecycle: 'canceled' },
    ]);
    const failed = await everyPage('/orders?state=failed', ACME);
    expect(failed.map((order) => order.order_id)).toContain('declined');
    expect(failed.map((order) => order.order_id)).not.toContain('to-cancel');
    expect(new Set(failed.map((order) => order.lifecycle))).toEqual(new Set(['failed']));
    // Each order listed as what it is, whatever the filter.
    for (const order of await everyPage('/orders', ACME))
      expect(order.lifecycle, order.order_id).toBe(
        order.order_id === 'to-cancel'
          ? 'canceled'
          : order.outcome === null
            ? 'running'
            : order.outcome.kind === 'ok'
              ? 'succeeded'
              : 'failed',
      );
    // Every state an order's record can be in (accepted is only ever a 202's word), and done: any ending.
    for (const state of [...LIFECYCLE_STATES.filter((one) => one !== 'accepted'), 'done'])
      expect((await get(`/orders?state=${state}`, ACME)).status, state).toBe(200);
    await expectAtRest(svc, 2);
  });

  it("shows a client its own orders only: another client's is 404, naming another client 403", async () => {
    await svc.order({ order_id: 'acme-own', amount: 100, delay_ms: QUICK, deadline_ms: 7000 }, { key: ACME });
    const mine = await everyPage('/orders', ACME);
    expect(mine.length).toBeGreaterThan(0);
    expect(new Set(mine.map((order) => order.client))).toEqual(new Set(['acme']));
    expect((await get('/orders?client=globex', ACME)).status).toBe(403);
    expect((await get('/orders/acme-own/timeline', GLOBEX)).status).toBe(404);
    expect((await get('/orders/acme-own/timeline?client=acme', GLOBEX)).status).toBe(403);
    // Its own deadline, kept with its record once done.
    expect(await get('/orders/acme-own/timeline', ACME)).toMatchObject({ status: 200, body: { deadline_ms: 7000 } });
    // A cursor is its caller's: another client's is refused, not read.
    const page = await get<ListJson>('/orders?limit=1', ACME);
    expect(page.body.next).not.toBeNull();
    expect((await get(`/orders?cursor=${encodeURIComponent(page.body.next!)}`, GLOBEX)).status).toBe(400);
    // Nor is a list's cursor a feed's.
    expect((await get(`/events?after=${encodeURIComponent(page.body.next!)}`, ACME)).status).toBe(400);
    expect((await fetch(new URL('/orders', svc.url))).status).toBe(401);
    expect((await get('/orders?state=lost', ADMIN)).status).toBe(400);
  });
});
