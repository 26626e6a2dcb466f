/**
 * GET /orders/{id}/timeline over Postgres: each step's attempts as recorded
 * when it ended (order_steps) — the instance and thread that ran it, when,
 * in which run — with its tries before whose thread died under it
 * (order_step_tries), and the order's deadline, counted from its run's
 * start: its own if it sent one, else the service's. A client reads its own
 * order's only. It says an order is redrivable exactly when the admin's
 * redrive of it would send it on.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import type { components } from '../client/api-types.js';
import { useDurableStores } from '../support/durable-stores.js';
import { expectAtRest } from '../support/leaks.js';
import { POSTGRES_SKIPPED, POSTGRES_UNAVAILABLE, sql } from '../support/postgres.js';
import { startTestService, TEST_CONFIG, type TestService } from '../support/service.js';
import { ACME, ADMIN, GLOBEX, TWO_CLIENTS } from '../support/two-clients.js';
import { readFollowingRetryAfter } from '../support/http.js';
import { placeRunningOrder } from '../support/orders.js';
import { eventually } from '../support/wait.js';
import { hasChromium, launchChromium, pageErrors, shot } from '../support/chromium.js';

const stores = useDurableStores();

/** As the document says it. */
type Timeline = components['schemas']['OrderTimeline'];

async function timelineOf(svc: TestService, id: string, key: string): Promise<{ status: number; body: Timeline }> {
  // A read turned away 503 with Retry-After (the loop late beside busy cores) is asked again when it says.
  const response = await readFollowingRetryAfter(new URL(`/orders/${id}/timeline`, svc.url), {
    headers: { authorization: `Bearer ${key}` },
  });
  return { status: response.status, body: (await response.json()) as Timeline };
}

/** A service on a fresh database of the file's Postgres, with two clients. */
async function durableService(config: Partial<Config> = {}): Promise<TestService> {
  const durable = { databaseUrl: await stores.database(), leaseMs: 3000, poolSize: 4 };
  return startTestService({ config: { durable, access: TWO_CLIENTS, ...config } });
}

describe('the timeline in Postgres', () => {
  beforeEach((test) => {
    if (POSTGRES_UNAVAILABLE !== undefined) test.skip(POSTGRES_SKIPPED);
  });

  it("lists each step's recorded attempt with the instance and thread that ran it, and the order's deadline", async () => {
    const svc = await durableService();
    try {
      const quick = { payment: 20, vendor: 20, courier: 20 };
      const sentAt = Date.now();
      expect(
        (await svc.order({ order_id: 'own-deadline', amount: 500, deadline_ms: 9000, delay_ms: quick }, { key: ACME }))
          .status,
      ).toBe(200);
      expect(
        (await svc.order({ order_id: 'service-deadline', amount: 500, delay_ms: quick }, { key: ACME })).status,
      ).toBe(200);
      const health = (await (await fetch(new URL('/healthz', svc.url))).json()) as { durable: { instance_id: string } };
      const timeline = (id: string, key: string) => timelineOf(svc, id, key);

      const { status, body } = await timeline('own-deadline', ACME);
      expect(status).toBe(200);
      const attempts = body.step_attempts!;
      expect(attempts.map((attempt) => attempt.step).sort()).toEqual(['courier', 'payment', 'vendor']);
      const run = body.events.find((event) => event.type === 'order.succeeded')!.run;
      const runStart = Date.parse(body.run_started_at!);
      expect(runStart).toBeGreaterThanOrEqual(sentAt - 1000);
      for (const attempt of attempts) {
        const step = body.steps.find((s) => s.name === attempt.step)!;
        expect(attempt).toMatchObject({
          run,
          takeovers: 0,
          instance_id: health.durable.instance_id,
          thread_id: step.thread_id,
          outcome: 'ok',
        });
        expect(attempt.thread_id).toBeGreaterThan(0);
        expect(Date.parse(attempt.started_at)).toBeGreaterThanOrEqual(runStart);
        expect(Date.parse(attempt.ended_at)).toBeGreaterThanOrEqual(Date.parse(attempt.started_at));
      }
      expect(body).toMatchObject({ deadline_ms: 9000, redrivable: false });

      // An order on the service's deadline is never resumed: none of its steps is recorded.
      const onService = await timeline('service-deadline', ACME);
      expect(onService.body).toMatchObject({ step_attempts: [], deadline_ms: TEST_CONFIG.orderTimeoutMs });
      expect(Date.parse(onService.body.run_started_at!)).toBeGreaterThanOrEqual(sentAt - 1000);

      expect((await timeline('own-deadline', GLOBEX)).status).toBe(404);
      await expectAtRest(svc, 2);
    } finally {
      await svc.shutdown();
    }
  });

  it("says redrivable exactly when a redrive sends the order on: not for an order on the service's deadline, nor one holding money", async () => {
    const databaseUrl = await stores.database();
    const svc = await startTestService({
      config: { durable: { databaseUrl, leaseMs: 3000, poolSize: 4 }, access: TWO_CLIENTS },
    });
    try {
      const quick = { payment: 5, vendor: 5, courier: 5 };
      const orders: Array<[string, Record<string, unknown>, number]> = [
        // Failed, its payment refunded, with a deadline of its own: what it asked is kept to run it again.
        ['own-deadline', { deadline_ms: 9000, fail_step: 'vendor' }, 503],
        // The same on the service's deadline: nothing of it is kept to run it again.
        ['service-deadline', { fail_step: 'vendor' }, 503],
        // Its own deadline, but its charge stands: settled before it is sent on.
        ['holding-money', { deadline_ms: 9000 }, 200],
      ];
      for (const [order_id, fields, status] of orders)
        expect((await svc.order({ order_id, amount: 500, delay_ms: quick, ...fields }, { key: ACME })).status).toBe(
          status,
        );
      // As an instance lost under them would leave them once recovery has voided what they held.
      await sql(databaseUrl, "UPDATE orders SET kind = 'interrupted' WHERE client = 'acme'");
      const said: Array<[string, boolean, number, string]> = [];
      for (const [id] of orders) {
        const { body } = await timelineOf(svc, id, ACME);
        const redrive = await fetch(new URL(`/admin/orders/${id}/redrive?client=acme`, svc.url), {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN}` },
        });
        const answer = (await redrive.json()) as { error?: { kind: string } };
        said.push([id, body.redrivable, redrive.status, answer.error?.kind ?? '']);
      }
      expect(said).toEqual([
        ['own-deadline', true, 202, ''],
        ['service-deadline', false, 409, 'not_redrivable'],
        ['holding-money', false, 409, 'money_unsettled'],
      ]);
      await eventually(
        () => svc.health(),
        (health) => health.orders_in_flight === 0,
      );
      await expectAtRest(svc, 2);
    } finally {
      await svc.shutdown();
    }
  });

  it("lists a timed-out order's steps on the service's deadline, which records none of them step by step", async () => {
    const svc = await durableService({ orderTimeoutMs: 400 });
    try {
      const late = { payment: 5, vendor: 5, courier: 3000 };
      const answer = await svc.order({ order_id: 'late-courier', amount: 400, delay_ms: late }, { key: ACME });
      expect(answer.status).toBe(504);
      const told = (answer.body as { steps: Array<{ name: string; status: string }> }).steps;
      const { status, body } = await timelineOf(svc, 'late-courier', ACME);
      expect(status).toBe(200);
      expect(body).toMatchObject({ outcome: { kind: 'timeout' }, step_attempts: [], deadline_ms: 400 });
      expect(body.steps.map(({ name, status }) => ({ name, status }))).toEqual(
        told.map(({ name, status }) => ({ name, status })),
      );
      expect(body.steps.find((step) => step.name === 'courier')).toMatchObject({
        status: 'canceled',
        cause: 'timeout',
      });
      expect(body.compensations.map((step) => step.name)).toEqual(['refund']);
      // Shown, never replayed: a retry runs it again, and the timeline is the new run's until it ends.
      const again = await svc.order({ order_id: 'late-courier', amount: 400, delay_ms: late }, { key: ACME });
      expect(again.status).toBe(504);
      expect((await timelineOf(svc, 'late-courier', ACME)).body.runs).toBe(2);
      await expectAtRest(svc, 2);
    } finally {
      await svc.shutdown();
    }
  });

  it('says who canceled an order and when: the admin by its key, the client by its name, kept with the record', async () => {
    const svc = await durableService();
    try {
      for (const [orderId, key, query, actor] of [
        ['canceled-by-the-admin', ADMIN, '?client=acme', 'admin'],
        ['canceled-by-its-client', ACME, '', 'acme'],
      ] as const) {
        await placeRunningOrder(svc.url, ACME, orderId);
        const before = Date.now();
        const canceled = await fetch(new URL(`/orders/${orderId}/cancel${query}`, svc.url), {
          method: 'POST',
          headers: { authorization: `Bearer ${key}` },
        });
        expect(canceled.status).toBe(200);
        const { body } = await timelineOf(svc, orderId, ACME);
        expect(body.outcome).toMatchObject({ kind: 'canceled' });
        expect(body.canceled_by, orderId).toMatchObject({ actor });
        expect(Date.parse(body.canceled_by!.at)).toBeGreaterThanOrEqual(before - 1000);
        expect(Date.parse(body.canceled_by!.at)).toBeLessThanOrEqual(Date.now() + 1000);
        if (actor === 'admin') expect(body.canceled_by!.actor_key).toMatch(/^sha256:[0-9a-f]{12}$/);
        else expect(body.canceled_by).not.toHaveProperty('actor_key');
      }
      // A cancel is answered once the run's end is recorded, told by the store's notice, not once the desk has let the
      // run go: the answer to the desk's own write can come after that notice (orders_in_flight read 1 once, after the
      // cancel's answer and a timeline read).
      await eventually(
        () => svc.health(),
        (health) => health.orders_in_flight === 0,
      );
      await expectAtRest(svc, 2);
    } finally {
      await svc.shutdown();
    }
  });

  it('lists a step whose thread died under it twice: the try on the lost thread, and the one that ended it; the console names both threads', async () => {
    const svc = await durableService({ threads: 1 });
    try {
      // Orders of their own deadline (recorded step by step) whose vendor and courier still run on the one thread when
      // a neighbour's payment crashes it: they run again on the thread that takes its place. Their payment ended
      // before (one under way when its thread dies is in doubt, and its order fails rather than risk a second charge).
      const ids = ['survivor-0', 'survivor-1', 'survivor-2'];
      const answers = ids.map((order_id) =>
        svc.order(
          { order_id, amount: 500, deadline_ms: 10_000, delay_ms: { payment: 0, vendor: 1200, courier: 1200 } },
          { key: ACME },
        ),
      );
      await eventually(
        () => svc.health(),
        (health) => health.orders_in_flight === ids.length && health.running_steps === 2 * ids.length,
        { within: 5000, every: 5 },
      );
      await eventually(
        () => Promise.all(ids.map((id) => timelineOf(svc, id, ACME))),
        (timelines) => timelines.every(({ body }) => body.step_attempts?.some((a) => a.step === 'payment')),
        { within: 5000, every: 5 },
      );
      const crash = await svc.order(
        {
          order_id: 'crasher',
          amount: 100,
          delay_ms: { payment: 0, vendor: 0, courier: 0 },
          faults: { payment: 'crash' },
        },
        { key: ADMIN },
      );
      // Faults are the admin's to send.
      expect(crash.status).toBe(500);
      expect((await Promise.all(answers)).map((answer) => answer.status)).toEqual([200, 200, 200]);

      for (const id of ids) {
        const { body } = await timelineOf(svc, id, ACME);
        const attempts = body.step_attempts!;
        for (const step of ['vendor', 'courier']) {
          const tries = attempts.filter((attempt) => attempt.step === step);
          expect(
            tries.map((attempt) => attempt.outcome),
            `${id} ${step}`,
          ).toEqual(['thread_died', 'ok']);
          const [lost, ended] = tries as [(typeof tries)[0], (typeof tries)[0]];
          expect(lost.thread_id).toBeGreaterThan(0);
          expect(ended.thread_id).toBeGreaterThan(0);
          expect(ended.thread_id).not.toBe(lost.thread_id);
          expect(ended).toMatchObject({ takeovers: 0, instance_id: lost.instance_id });
          expect(ended.thread_id).toBe(body.steps.find((s) => s.name === step)!.thread_id);
          // The try that ended it began as the lost one ended: one after the other, not overlapping.
          expect(Date.parse(lost.ended_at)).toBeGreaterThanOrEqual(Date.parse(lost.started_at));
          expect(Date.parse(ended.started_at)).toBeGreaterThanOrEqual(Date.parse(lost.ended_at) - 1);
        }
        expect(attempts.filter((attempt) => attempt.step === 'payment').map((a) => a.outcome)).toEqual(['ok']);
      }
      if (hasChromium) await consoleNamesTheThreads(svc, ids[0]!);
      await expectAtRest(svc, 1);
    } finally {
      await svc.shutdown();
    }
  });
});

/**
 * The console's page of an order whose vendor's thread died under it, in a real headless Chromium: the try on the lost
 * thread drawn on that thread's lane and saying it died there, the try that ended it on another's.
 */
async function consoleNamesTheThreads(svc: TestService, orderId: string): Promise<void> {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({
      httpCredentials: { username: 'admin', password: ADMIN },
      viewport: { width: 1366, height: 768 },
    });
    const page = await context.newPage();
    const errors = pageErrors(page);
    await page.goto(new URL('/console', svc.url).href);
    await page.locator(`#orders tr[data-order-id="${orderId}"]`).click();
    const died = page.locator('#order .bar[data-step="vendor"][data-outcome="thread_died"]');
    const ended = page.locator('#order .bar[data-step="vendor"][data-outcome="ok"]');
    await died.waitFor({ timeout: 5000 });
    const [lostThread, endedThread] = [
      await died.getAttribute('data-thread-id'),
      await ended.getAttribute('data-thread-id'),
    ];
    expect(lostThread).not.toBe(endedThread);
    expect(await died.textContent()).toContain(
      `vendor: thread ${lostThread} died under it, and it ran again on another`,
    );
    await shot(page, 'console-thread-died-durable');
    expect(errors).toEqual([]);
    await context.close();
  } finally {
    await browser.close();
  }
}
