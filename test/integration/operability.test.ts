/**
 * What an operator sees and relies on: metrics that move exactly as the
 * orders do, request ids in every log line, load shedding, readiness.
 */
import { SERVICE_VERSION } from '../../src/version.js';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ANONYMOUS } from '../../src/auth/caller.js';
import { createOrderEngine } from '../../src/composition/engine.js';
import { loadConfig } from '../../src/config.js';
import { runOf, type Order } from '../../src/domain/order.js';
import { everyStep, STEP_NAMES } from '../../src/domain/steps.js';
import type { Config } from '../../src/config.js';
import { DEFAULT_STEPS } from '../../src/composition/steps.js';
import { compiledFixture } from '../support/compiled.js';
import { expectAtRest } from '../support/leaks.js';
import { captureLog } from '../support/log-capture.js';
import { orderBody, stepsOf } from '../support/orders.js';
import { growth, sampleKey, type Samples, scrapeSettled } from '../support/prometheus.js';
import { startTestService, type TestService, type TestServiceOptions } from '../support/service.js';
import { converse, parseReply } from '../support/raw-socket.js';
import { eventually } from '../support/wait.js';

let svc: TestService | undefined;
afterEach(async () => {
  if (svc) await expectAtRest(svc, 2);
  await svc?.shutdown();
  svc = undefined;
});

async function start(
  config: Partial<Config> = {},
  options: Omit<TestServiceOptions, 'config'> = {},
): Promise<TestService> {
  svc = await startTestService({ config: { threads: 2, ...config }, ...options });
  return svc;
}

const scrape = (service: TestService): Promise<Samples> => scrapeSettled(service.url);

const instant = { payment: 0, vendor: 0, courier: 0 };

describe('GET /metrics', () => {
  it('moves exactly as a known sequence of orders does', async () => {
    const service = await start({ orderTimeoutMs: 300, maxInflight: 3 });
    const before = await scrape(service);

    const ok = await Promise.all(Array.from({ length: 3 }, () => service.order(orderBody({ delay_ms: instant }))));
    const declined = await service.order(
      orderBody({ fail_step: 'payment', delay_ms: { payment: 20, vendor: 1000, courier: 1000 } }),
    );
    const vendorDown = await service.order(
      orderBody({ fail_step: 'vendor', delay_ms: { payment: 0, vendor: 20, courier: 0 } }),
    );
    const late = await service.order(orderBody({ delay_ms: { payment: 1000, vendor: 1000, courier: 1000 } }));
    const fillers = Array.from({ length: 3 }, () =>
      service.order(orderBody({ delay_ms: { payment: 150, vendor: 150, courier: 150 } })),
    );
    await eventually(
      () => service.health(),
      (health) => health.orders_in_flight === 3,
    );
    const shed = await service.order(orderBody({ delay_ms: instant }));
    await Promise.all(fillers);
    expect([...ok.map((o) => o.status), declined.status, vendorDown.status, late.status, shed.status]).toEqual([
      200, 200, 200, 400, 503, 504, 503,
    ]);

    const after = await scrape(service);
    const moved = (name: string, labels: Record<string, string> = {}): number => growth(before, after, name, labels);
    expect({
      ok: moved('orders_total', { status: '200', kind: 'ok' }),
      declined: moved('orders_total', { status: '400', kind: 'payment_declined' }),
      vendor: moved('orders_total', { status: '503', kind: 'vendor_unavailable' }),
      timeout: moved('orders_total', { status: '504', kind: 'timeout' }),
      overloaded: moved('orders_total', { status: '503', kind: 'overloaded' }),
      shed: moved('orders_shed_total'),
      answered200: moved('order_duration_seconds_count', { status: '200' }),
    }).toEqual({ ok: 6, declined: 1, vendor: 1, timeout: 1, overloaded: 1, shed: 1, answered200: 6 });
    // Steps of the 9 orders that ran: 6 ok, one declined at payment, one failed at vendor (its others
    // done by then, its payment voided), one timed out (its payment canceled mid-call, and voided).
    const steps = (step: string, status: string): number =>
      moved('order_step_duration_seconds_count', { step, status });
    expect({
      payment: [steps('payment', 'ok'), steps('payment', 'error'), steps('payment', 'canceled')],
      vendor: [steps('vendor', 'ok'), steps('vendor', 'error'), steps('vendor', 'canceled')],
      courier: [steps('courier', 'ok'), steps('courier', 'error'), steps('courier', 'canceled')],
    }).toEqual({ payment: [7, 1, 1], vendor: [6, 1, 2], courier: [7, 0, 2] });
    expect(moved('order_compensations_total', { name: 'refund', status: 'ok' })).toBe(2);
    // Each step is one task of the pool, and each refund one more: no more than three tasks per order that ran and one
    // per refund (a step canceled before it reached a thread is none).
    const tasks = moved('worker_pool_tasks_completed_total');
    expect(tasks).toBeGreaterThanOrEqual(2);
    expect(tasks).toBeLessThanOrEqual(9 * 3 + 2);
    // The provider: every payment that started charged, but the declined one; both failed orders' payments given back.
    expect({
      charged: moved('payments_total', { outcome: 'charged' }),
      declined: moved('payments_total', { outcome: 'declined' }),
      refunded: moved('payments_total', { outcome: 'refunded' }),
      atRisk: after.get(sampleKey('money_at_risk')),
    }).toEqual({ charged: 8, declined: 1, refunded: 2, atRisk: 0 });

    const now = (name: string, labels: Record<string, string> = {}): number | undefined =>
      after.get(sampleKey(name, labels));
    expect({
      running: now('order_steps_running'),
      queued: now('order_steps_queued'),
      inFlight: now('orders_in_flight'),
      threads: now('worker_threads'),
      couriersBusy: now('couriers_busy'),
      couriers: now('couriers'),
      replaced:
        moved('worker_threads_replaced_total', { cause: 'died' }) +
        moved('worker_threads_replaced_total', { cause: 'terminated' }),
    }).toEqual({ running: 0, queued: 0, inFlight: 0, threads: 2, couriersBusy: 0, couriers: 5, replaced: 0 });
    for (const name of ['nodejs_eventloop_lag_seconds', 'process_resident_memory_bytes', 'worker_pool_utilization'])
      expect(after.has(name)).toBe(true);
    expect(after.has(sampleKey('worker_pool_task_run_milliseconds', { quantile: '0.99' }))).toBe(true);
    expect(after.has(sampleKey('worker_pool_task_wait_milliseconds', { quantile: '0.5' }))).toBe(true);
  });

  it('is not served with METRICS=off', async () => {
    const service = await start({ metrics: false });
    expect((await fetch(new URL('/metrics', service.url))).status).toBe(404);
  });
});

describe('what build this is', () => {
  it('GET /version says the version, the commit when known and the Node version, and build_info carries them', async () => {
    const service = await start();
    const response = await fetch(new URL('/version', service.url));
    expect(response.status).toBe(200);
    const expected = {
      version: SERVICE_VERSION,
      commit: process.env['BUILD_COMMIT'] || null,
      node: process.versions.node,
    };
    expect(await response.json()).toEqual(expected);
    const samples = await scrape(service);
    expect(samples.get(sampleKey('build_info', { ...expected, commit: expected.commit ?? '' }))).toBe(1);
  });
});

describe('request ids and logs', () => {
  it('keeps a sane X-Request-Id, echoes it, and puts it on every log line of the request', async () => {
    const log = captureLog();
    const service = await start({}, { logger: log.logger });
    const response = await fetch(new URL('/order', service.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'checkout-7f3a.1' },
      body: JSON.stringify(orderBody({ order_id: 'traced', delay_ms: instant })),
    });
    expect(response.headers.get('x-request-id')).toBe('checkout-7f3a.1');
    await response.json();
    const lines = await eventually(
      async () => log.lines.filter((line) => line['request_id'] === 'checkout-7f3a.1'),
      (found) => found.length >= 1,
    );
    // One line for the request, and it is the order's outcome line too.
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: 'order done',
      method: 'POST',
      path: '/order',
      status: 200,
      duration_ms: expect.any(Number),
      order_id: 'traced',
      kind: 'ok',
      steps: STEP_NAMES.map((name) => `${name}:ok`),
    });
  });

  it('writes one line for any other request too', async () => {
    const log = captureLog();
    const service = await start({}, { logger: log.logger });
    const response = await fetch(new URL('/nowhere', service.url), { headers: { 'x-request-id': 'lost-1' } });
    expect(response.status).toBe(404);
    await response.json();
    const line = await eventually(
      async () => log.lines.find((entry) => entry['request_id'] === 'lost-1'),
      (found) => found !== undefined,
    );
    expect(line).toMatchObject({
      msg: 'request answered',
      method: 'GET',
      path: '/nowhere',
      status: 404,
      duration_ms: expect.any(Number),
    });
  });

  it.each([
    ['none', undefined],
    ['too long', 'x'.repeat(129)],
    ['with spaces', 'drop table orders'],
  ])('makes up a fresh id when the client sends %s', async (_case, given) => {
    const service = await start();
    const response = await fetch(new URL('/healthz', service.url), { headers: given ? { 'x-request-id': given } : {} });
    expect(response.headers.get('x-request-id')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    await response.json();
  });

  it('logs the stack of a crashed step, and never sends it', async () => {
    const log = captureLog();
    const service = await start(
      {},
      {
        logger: log.logger,
        steps: [
          { name: 'payment', module: compiledFixture('steps/throws-at-once').href },
          DEFAULT_STEPS[1]!,
          DEFAULT_STEPS[2]!,
        ],
      },
    );
    const { status, body } = await service.order(orderBody({ order_id: 'bad-stack', delay_ms: instant }));
    expect(status).toBe(500);
    expect(JSON.stringify(body)).not.toMatch(/TypeError|step bug|at /);
    const crash = await eventually(
      async () => log.lines.find((line) => line['msg'] === 'step failed with an internal error'),
      (found) => found !== undefined,
    );
    expect(crash).toMatchObject({ order_id: 'bad-stack', step: 'payment', request_id: expect.any(String) });
    expect(String(crash!['detail'])).toContain('TypeError: step bug');
    expect(log.lines.find((line) => line['order_id'] === 'bad-stack' && line['msg'] === 'order failed')).toMatchObject({
      kind: 'internal',
      status: 500,
    });
  });
});

describe('liveness while draining', () => {
  it('/healthz stays 200 (status draining) through the drain, while /readyz is 503: a kubelet must not restart a pod that finishes its orders', async () => {
    const service = await start();
    // Opened before the drain: the listener closes when it begins, but connections already open are still answered.
    const [live, ready] = await Promise.all([converse(service.url), converse(service.url)]);
    const order = service.order(orderBody({ delay_ms: { payment: 500, vendor: 0, courier: 0 } }));
    await eventually(
      () => service.health(),
      (health) => health.orders_in_flight === 1,
    );
    const stopped = service.shutdown();
    const probe = async (conversation: typeof live, path: string): Promise<ReturnType<typeof parseReply>> => {
      await conversation.send(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      await conversation.ended;
      return parseReply(conversation.reply());
    };
    const [liveness, readiness] = await Promise.all([probe(live, '/healthz'), probe(ready, '/readyz')]);
    expect(liveness.status).toBe(200);
    expect(JSON.parse(liveness.body)).toMatchObject({ status: 'draining', orders_in_flight: 1 });
    expect(readiness.status).toBe(503);
    expect(JSON.parse(readiness.body)).toMatchObject({ status: 'draining' });
    expect((await order).status).toBe(200);
    await stopped;
    svc = undefined;
  });
});

describe('load shedding', () => {
  it('answers beyond MAX_INFLIGHT at once with 503 overloaded and Retry-After, starting no step', async () => {
    const service = await start({ maxInflight: 3 });
    const running = Array.from({ length: 3 }, () =>
      service.order(orderBody({ delay_ms: { payment: 600, vendor: 600, courier: 600 } })),
    );
    await eventually(
      () => service.health(),
      (health) => health.running_steps === 9,
    );
    expect(await (await fetch(new URL('/readyz', service.url))).json()).toEqual({
      status: 'shedding',
      orders_in_flight: 3,
      max_inflight: 3,
    });
    // Liveness is not load: a pod that sheds is alive, and a restart would only lose its orders.
    expect((await fetch(new URL('/healthz', service.url))).status).toBe(200);

    const started = performance.now();
    const response = await fetch(new URL('/order', service.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(orderBody()),
    });
    const took = performance.now() - started;
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(await response.json()).toMatchObject({ status: 'error', error: { kind: 'overloaded' } });
    expect(took).toBeLessThan(100);
    expect((await service.health()).running_steps).toBe(9);

    expect((await Promise.all(running)).map(({ status }) => status)).toEqual([200, 200, 200]);
    const ready = await fetch(new URL('/readyz', service.url));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', orders_in_flight: 0 });
  });

  it('sheds at once even while every thread is busy computing', async () => {
    const service = await start({ maxInflight: 2 });
    const busy = Array.from({ length: 2 }, () =>
      service.order(orderBody({ cpu_ms: { payment: 600, vendor: 600, courier: 600 }, delay_ms: instant })),
    );
    await eventually(
      () => service.health(),
      (health) => health.running_steps === 6,
    );
    const timings: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const { status } = await service.order(orderBody({ delay_ms: instant }));
      timings.push(performance.now() - started);
      expect(status).toBe(503);
    }
    expect(Math.max(...timings)).toBeLessThan(100);
    await Promise.all(busy);
  });

  it("turns orders away with 503 overloaded, never 500, when the worker pool's queue is full", async () => {
    const steps = STEP_NAMES.length;
    const service = await start({ threads: 1, threadMaxTasks: steps, poolQueueLimit: steps });
    // A task a step: the first order's running, the second's queued, the rest refused.
    const order = () => orderBody({ delay_ms: everyStep(300), cpu_ms: everyStep(1) });
    const answers = await Promise.all(Array.from({ length: 4 }, () => service.order(order())));
    const statuses = answers.map(({ status }) => status).sort();
    expect(statuses).toEqual([200, 200, 503, 503]);
    for (const { body } of answers.filter(({ status }) => status === 503)) {
      expect(body.error?.kind).toBe('overloaded');
      expect(Object.values(stepsOf(body)).some((step) => step.detail === 'overloaded')).toBe(true);
    }
    await expectAtRest(service, 1);
    await service.shutdown();
    svc = undefined;
  });

  it("holds the pool's queue limit for orders that arrive in one turn of the event loop", async () => {
    const steps = STEP_NAMES.length;
    const config = loadConfig(
      {
        THREADS: '1',
        THREAD_MAX_TASKS: String(steps),
        POOL_QUEUE_LIMIT: String(steps),
        LOG_LEVEL: 'silent',
        METRICS: 'off',
      },
      { openFileLimit: undefined },
    );
    const engine = createOrderEngine(config, pino({ level: 'silent' }));
    try {
      const order = (n: number): Order => ({
        client: ANONYMOUS,
        orderId: `same-turn-${n}`,
        amount: 1200,
        failStep: undefined,
        failCompensation: false,
        delayMs: { ...everyStep(300), refund: 0 },
        // A task a step: the first order's three run, the second's three wait, the rest are refused.
        cpuMs: everyStep(1),
      });
      // Before: each step looked at the queue as it was asked for, before any of this turn's had been posted to it,
      // and all four orders ran.
      const results = await Promise.all(
        [1, 2, 3, 4].map((n) =>
          engine.pipeline.process(runOf(order(n), 1), new AbortController().signal, {
            requestId: `same-turn-${n}`,
          }),
        ),
      );
      expect(results.map((result) => result.failure ?? 'ok').sort()).toEqual(['ok', 'ok', 'overloaded', 'overloaded']);
      // Every step has ended when the pipeline answers (its Wait): nothing is left running.
      expect(engine.health().running_steps).toBe(0);
    } finally {
      await engine.close();
    }
  });
});
