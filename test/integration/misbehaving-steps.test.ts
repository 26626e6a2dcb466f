/**
 * Step modules with bugs a fault injected through the API cannot express: an
 * ordinary exception, a module that does not load, a step that leaves work
 * behind when it returns. (Every way of losing a thread is in faults.test.ts.)
 * Each runs with THREADS=1 unless it says otherwise.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_STEPS } from '../../src/composition/steps.js';
import type { Config } from '../../src/config.js';
import type { StepDefinition } from '../../src/pipeline/steps.js';
import { compiledFixture } from '../support/compiled.js';
import { expectAtRest } from '../support/leaks.js';
import { orderBody, stepsOf } from '../support/orders.js';
import { startTestService, type TestService } from '../support/service.js';

/** The default steps, the payment's module (and no refund) replaced by a fixture's. */
const withPayment = (fixture: string): StepDefinition[] =>
  DEFAULT_STEPS.map((step) =>
    step.name === 'payment' ? { name: 'payment', module: compiledFixture(`steps/${fixture}`).href } : step,
  );

let svc: TestService | undefined;
afterEach(async () => {
  await svc?.shutdown();
  svc = undefined;
});

async function start(fixture: string, config: Partial<Config> = {}): Promise<TestService> {
  svc = await startTestService({ config: { threads: 1, ...config }, steps: withPayment(fixture) });
  return svc;
}

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

describe('a step that throws an error with a very long message', () => {
  it("fails its order with 500, and the thread's later orders are answered; the service shuts down", async () => {
    // Before: the whole stack went into the report, too long for the thread's report ring, whose writer retried it
    // every millisecond for ever with every later report behind it: that order and every later one on the thread stayed
    // unanswered, and shutdown never ended.
    const service = await start('throws-long-message');
    const bounded = { signal: AbortSignal.timeout(10_000) };
    const failed = await service.order(orderBody({ order_id: 'bad-long-message' }), bounded);
    expect(failed.status).toBe(500);
    expect(stepsOf(failed.body)['payment']).toEqual(expect.objectContaining({ status: 'error', detail: 'internal' }));
    const later = await service.order(orderBody(), bounded);
    expect(later.status).toBe(200);
    await expectAtRest(service, 1);
    svc = undefined;
    await Promise.race([
      service.shutdown(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('shutdown did not end in 10 s')), 10_000)),
    ]);
  });
});

describe('a step that leaves work behind when it returns', () => {
  it('gets no courier slot after its task ended: the slot it asked for goes back at once', async () => {
    const service = await start('leaves-work-behind', { couriers: 1 });
    // Its own courier step holds the one slot while the careless payment asks for it and returns.
    const { status } = await service.order(
      orderBody({ order_id: 'bad-careless', delay_ms: { payment: 0, vendor: 0, courier: 300 } }),
    );
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
