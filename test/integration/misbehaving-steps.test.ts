/**
 * Steps that ignore cancellation or kill their thread. Every test checks the
 * order is answered (500, or per the failure that canceled it), a new thread
 * takes the lost one's place, the tracker and the courier pool are back to
 * rest, and the orders that shared the thread are unharmed — their steps
 * ran again on another thread.
 *
 * Most run with THREADS=1, so every concurrent step shares the one thread.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_STEPS } from '../../src/composition-root.js';
import type { Config } from '../../src/config.js';
import type { StepDefinition } from '../../src/pipeline/steps.js';
import { compiledFixture } from '../support/compiled.js';
import { expectAtRest } from '../support/leaks.js';
import { orderBody, stepsOf } from '../support/orders.js';
import { parseSamples, sampleKey } from '../support/prometheus.js';
import { startTestService, type TestService } from '../support/service.js';

const [, vendor, courier] = DEFAULT_STEPS;
const withPayment = (fixture: string): StepDefinition[] => [{ name: 'payment', module: compiledFixture(`steps/${fixture}`).href }, vendor!, courier!];

let svc: TestService | undefined;
afterEach(async () => {
  await svc?.shutdown();
  svc = undefined;
});

async function start(fixture: string, config: Partial<Config> = {}): Promise<TestService> {
  svc = await startTestService({ config: { threads: 1, ...config }, steps: withPayment(fixture) });
  return svc;
}

/** Well-behaved orders already running on the thread when the bad one arrives. */
function startNeighbours(service: TestService, count = 4) {
  return Array.from({ length: count }, () => service.order(orderBody({ delay_ms: { payment: 0, vendor: 400, courier: 400 } })));
}

async function expectNeighboursUnharmed(neighbours: ReturnType<typeof startNeighbours>): Promise<void> {
  const answers = await Promise.all(neighbours);
  for (const { status, body } of answers) expect({ status, error: body.error }).toEqual({ status: 200, error: undefined });
  const reran = answers.flatMap(({ body }) => body.steps ?? []).filter((step) => step.attempts === 2);
  expect(reran.length).toBeGreaterThan(0);
}

async function expectOneThreadReplaced(service: TestService, cause: 'died' | 'terminated', threads = 1): Promise<void> {
  await expectAtRest(service, threads);
  expect((await service.health()).threads_replaced).toBe(1);
  const metrics = parseSamples(await (await fetch(new URL('/metrics', service.url))).text());
  expect(metrics.get(sampleKey('worker_threads_replaced_total', { cause }))).toBe(1);
}

const gap = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each([
  ['throws from a timer', 'throws-from-timer', {}],
  ['leaves a rejection unhandled', 'rejects-unhandled', {}],
  ['calls process.exit', 'exits-thread', {}],
  ['runs out of heap', 'exhausts-heap', { threadMaxHeapMb: 32 }],
] as const)('a step that %s', (_title, fixture, config) => {
  it('fails its own order with 500 internal; the thread is replaced; its neighbours run again and succeed', async () => {
    const service = await start(fixture, config);
    const neighbours = startNeighbours(service);
    await gap(50);
    const { status, body } = await service.order(orderBody({ order_id: `bad-${fixture}`, delay_ms: { payment: 1000, vendor: 1000, courier: 1000 } }));
    expect(status).toBe(500);
    expect(body.error).toEqual({ kind: 'internal', message: 'order failed' });
    const steps = stepsOf(body);
    expect(steps['payment']).toMatchObject({ status: 'error', detail: 'internal', thread_fate: 'died' });
    for (const name of ['vendor', 'courier']) expect(steps[name]).toMatchObject({ status: 'canceled', detail: 'canceled: internal' });
    expect(JSON.stringify(body)).not.toContain('step bug');
    await expectNeighboursUnharmed(neighbours);
    await expectOneThreadReplaced(service, 'died');
  });
});

describe('a step that ignores cancellation', () => {
  it('without blocking its thread: the thread is terminated after the grace period, the order answered per its own failure', async () => {
    const service = await start('ignores-cancel-sleeping');
    const neighbours = startNeighbours(service);
    await gap(50);
    const { status, body, ms } = await service.order(orderBody({ order_id: 'bad-sleeper', fail_step: 'vendor', delay_ms: { payment: 5000, vendor: 50, courier: 0 } }));
    expect(status).toBe(503);
    expect(body.error?.kind).toBe('vendor_unavailable');
    expect(stepsOf(body)['payment']).toMatchObject({ status: 'canceled', detail: 'canceled: vendor_unavailable', thread_fate: 'terminated' });
    // vendor fails at 50 ms; 250 ms of grace; then the answer, long before the step's 5 s.
    expect(ms).toBeGreaterThanOrEqual(300);
    expect(ms).toBeLessThan(1500);
    await expectNeighboursUnharmed(neighbours);
    await expectOneThreadReplaced(service, 'terminated');
  });

  it('hogging its thread past its deadline: 504 once the grace period is over', async () => {
    const service = await start('ignores-cancel-spinning', { orderTimeoutMs: 500 });
    const { status, body, ms } = await service.order(orderBody({ order_id: 'bad-spinner', delay_ms: { payment: 10_000, vendor: 0, courier: 0 } }));
    expect(status).toBe(504);
    expect(stepsOf(body)['payment']).toMatchObject({ status: 'canceled', detail: 'canceled: timeout', thread_fate: 'terminated' });
    expect(ms).toBeGreaterThanOrEqual(750);
    expect(ms).toBeLessThan(2500);
    await expectOneThreadReplaced(service, 'terminated');
  });

  it('hogging the thread its neighbours share, its client gone: the neighbours are run again elsewhere and succeed', async () => {
    const service = await start('ignores-cancel-spinning');
    const neighbours = startNeighbours(service);
    await gap(50);
    const gone = service.order(orderBody({ order_id: 'bad-spinner', delay_ms: { payment: 10_000, vendor: 0, courier: 0 } }), { signal: AbortSignal.timeout(100) });
    await expect(gone).rejects.toThrow();
    await expectNeighboursUnharmed(neighbours);
    for (let waited = 0; (await service.health()).orders_in_flight > 0 && waited < 5000; waited += 20) await gap(20);
    await expectOneThreadReplaced(service, 'terminated');
  });
});

describe('a step that throws an ordinary error', () => {
  it('fails its order with 500 internal and no detail for the client; the thread lives on', async () => {
    const service = await start('throws-at-once');
    const { status, body } = await service.order(orderBody({ order_id: 'bad-thrower' }));
    expect(status).toBe(500);
    expect(stepsOf(body)['payment']).toEqual(expect.objectContaining({ status: 'error', detail: 'internal' }));
    expect(stepsOf(body)['payment']!.thread_fate).toBeUndefined();
    expect(JSON.stringify(body)).not.toContain('step bug');
    await expectAtRest(service, 1);
    expect((await service.health()).threads_replaced).toBe(0);
  });
});

describe('a step that leaves work behind when it returns', () => {
  it('gets no courier slot after its task ended: the slot it asked for goes back at once', async () => {
    const service = await start('leaves-work-behind', { couriers: 1 });
    // Its own courier step holds the one slot while the careless payment asks for it and returns.
    const { status } = await service.order(orderBody({ order_id: 'bad-careless', delay_ms: { payment: 0, vendor: 0, courier: 300 } }));
    expect(status).toBe(200);
    await expectAtRest(service, 1);
    expect((await service.order(orderBody({ delay_ms: { payment: 0, vendor: 0, courier: 0 } }))).status).toBe(200);
  });
});

describe('a step whose module does not load', () => {
  it('fails each of its orders with 500 internal; the threads start all the same and live on', async () => {
    const service = await start('no-such-module', { threads: 2 });
    for (const id of ['unloadable-1', 'unloadable-2']) {
      const { status, body } = await service.order(orderBody({ order_id: id }));
      expect(status).toBe(500);
      expect(stepsOf(body)['payment']).toEqual(expect.objectContaining({ status: 'error', detail: 'internal' }));
    }
    await expectAtRest(service, 2);
    expect((await service.health()).threads_replaced).toBe(0);
  });
});
