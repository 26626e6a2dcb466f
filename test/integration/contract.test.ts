/**
 * The Go service's contract scenarios, over real HTTP, with steps on real
 * worker threads. Timings are asserted with margins that hold on a busy
 * 2-core machine; performance targets live in load/.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEPENDENCY_NAMES } from '../../src/domain/dependencies.js';
import { DEFAULT_DELAY_MS, everyStep, STEP_NAMES } from '../../src/domain/steps.js';
import { expectAtRest, expectOsThreadsBackTo, osThreadCount } from '../support/leaks.js';
import { expectWorkerThreads, orderBody, stepsOf } from '../support/orders.js';
import { startTestService, type TestService } from '../support/service.js';

const THREADS = 2;
let svc: TestService;
let osThreadsBefore: number;

beforeAll(async () => {
  osThreadsBefore = osThreadCount();
  svc = await startTestService({ config: { threads: THREADS } });
});
afterEach(async () => expectAtRest(svc, THREADS));
afterAll(async () => {
  await svc.shutdown();
  await expectOsThreadsBackTo(osThreadsBefore);
});

describe('POST /order', () => {
  it('runs all three steps at once: 200, durations near 150/200/100 ms', async () => {
    // The control, on this machine as it is now: the round trip of an order whose steps take no time, once the
    // service's first order has compiled the way (that first one, the file's, took 582 ms beside four busy loops).
    const instant = (): Record<string, unknown> => orderBody({ delay_ms: { payment: 0, vendor: 0, courier: 0 } });
    await svc.order(instant());
    const overhead = (await svc.order(instant())).ms;
    const { status, body, ms } = await svc.order(orderBody({ order_id: 'o1' }));
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'ok', order_id: 'o1' });
    expect(body.error).toBeUndefined();
    const steps = stepsOf(body);
    for (const [name, expected] of [
      ['payment', 150],
      ['vendor', 200],
      ['courier', 100],
    ] as const) {
      expect(steps[name]).toMatchObject({ status: 'ok' });
      expect(steps[name]!.duration_ms).toBeGreaterThanOrEqual(expected);
      // A sleep's timer fires late on a starved CPU: 109 ms late once with two busy loops beside the suite (80 failed).
      expect(steps[name]!.duration_ms).toBeLessThan(expected + 150);
    }
    // In parallel: the slowest step and the control's overhead, less than halfway to the sum that steps one after
    // another would take (250 ms more) — of the durations as they ran, so that a late timer counts in both.
    const durations = STEP_NAMES.map((name) => steps[name]!.duration_ms);
    const slowest = Math.max(...durations);
    const sum = durations.reduce((total, duration) => total + duration, 0);
    expect(ms).toBeLessThan(slowest + overhead + (sum - slowest) / 2);
    expectWorkerThreads(body, THREADS);
  });

  it('payment failure cancels the others at once: 400 long before their 800 ms', async () => {
    const { status, body, ms } = await svc.order(
      orderBody({ fail_step: 'payment', delay_ms: { vendor: 800, courier: 800 } }),
    );
    expect(status).toBe(400);
    expect(body.error).toEqual({ kind: 'payment_declined', message: 'order failed' });
    const steps = stepsOf(body);
    expect(steps['payment']).toMatchObject({ status: 'error', detail: 'payment_declined' });
    expect(steps['payment']!.duration_ms).toBeGreaterThanOrEqual(150);
    for (const name of ['vendor', 'courier']) {
      expect(steps[name]).toMatchObject({ status: 'canceled', detail: 'canceled: payment_declined' });
      expect(steps[name]!.duration_ms).toBeLessThan(steps['payment']!.duration_ms + 50);
    }
    expect(ms).toBeLessThan(500);
  });

  it('the deadline cancels every step: 504 at about 2 s', async () => {
    const { status, body, ms } = await svc.order(orderBody({ delay_ms: everyStep(3000) }));
    expect(status).toBe(504);
    expect(body.error?.kind).toBe('timeout');
    for (const step of Object.values(stepsOf(body)))
      expect(step).toMatchObject({ status: 'canceled', detail: 'canceled: timeout' });
    expect(ms).toBeGreaterThanOrEqual(2000);
    expect(ms).toBeLessThan(2600);
  });

  it.each([
    ['vendor', 503, 'vendor_unavailable'],
    ['courier', 503, 'no_courier'],
  ])('%s failure: %i %s, the other steps canceled', async (failStep, expectedStatus, kind) => {
    const { status, body } = await svc.order(
      orderBody({ fail_step: failStep, delay_ms: { payment: 800, vendor: 100, courier: 100 } }),
    );
    expect(status).toBe(expectedStatus);
    expect(body.error).toEqual({ kind, message: 'order failed' });
    const steps = stepsOf(body);
    expect(steps[failStep]).toMatchObject({ status: 'error', detail: kind });
    expect(steps['payment']).toMatchObject({ status: 'canceled', detail: `canceled: ${kind}` });
  });

  it('takes a delay of 0 as no delay at all', async () => {
    // Against an order of the default delays sent at the same moment, which pays the same machine's delays on top of
    // its steps' sleeps: each step of delay 0 ends at least half its default sooner. Not a bound of 50 ms: beside two
    // busy loops a step of delay 0 took 71.
    const [none, control] = await Promise.all([
      svc.order(orderBody({ delay_ms: everyStep(0) })),
      svc.order(orderBody()),
    ]);
    expect([none.status, control.status]).toEqual([200, 200]);
    const [steps, controlSteps] = [stepsOf(none.body), stepsOf(control.body)];
    for (const name of STEP_NAMES)
      expect(steps[name]!.duration_ms, name).toBeLessThan(controlSteps[name]!.duration_ms - DEFAULT_DELAY_MS[name] / 2);
    const slowest = Math.max(...STEP_NAMES.map((name) => DEFAULT_DELAY_MS[name]));
    expect(none.ms).toBeLessThan(control.ms - slowest / 2);
  });

  it('computes cpu_ms on the step thread, on top of the delay', async () => {
    const { status, body } = await svc.order(
      orderBody({ cpu_ms: { payment: 100 }, delay_ms: { payment: 50, vendor: 0, courier: 0 } }),
    );
    expect(status).toBe(200);
    expect(stepsOf(body)['payment']!.duration_ms).toBeGreaterThanOrEqual(150);
  });

  it('answers JSON with the media type that says so', async () => {
    const response = await fetch(new URL('/order', svc.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(orderBody({ delay_ms: everyStep(0) })),
    });
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    await response.json();
  });
});

describe('GET /healthz', () => {
  it("reports the tracker, the threads, the queue, the courier pool, each thread, and each dependency's breaker", async () => {
    const response = await fetch(new URL('/healthz', svc.url));
    expect(response.status).toBe(200);
    const perThread = Array.from({ length: THREADS }, () => ({
      thread_id: expect.any(Number),
      steps: 0,
      utilization: expect.any(Number),
    }));
    const closed = { state: 'closed', consecutive_failures: 0, open_until: null };
    expect(await response.json()).toEqual({
      status: 'ok',
      running_steps: 0,
      threads: THREADS,
      queued: 0,
      couriers_busy: 0,
      couriers: 5,
      orders_in_flight: 0,
      threads_replaced: 0,
      fault_injection: true,
      access: 'open',
      per_thread: perThread,
      breakers: Object.fromEntries(DEPENDENCY_NAMES.map((name) => [name, closed])),
    });
  });

  it('counts the steps running in worker threads while an order is in flight', async () => {
    const inFlight = svc.order(orderBody({ delay_ms: { payment: 300, vendor: 300, courier: 300 } }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const health = await svc.health();
    expect(health).toMatchObject({ running_steps: 3, couriers_busy: 1, orders_in_flight: 1 });
    expect((await inFlight).status).toBe(200);
  });
});
