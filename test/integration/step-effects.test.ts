/**
 * The vendor's and the courier's effects through the engine and its real worker threads, with the service books it is
 * given: each step asks its service once, under the run's key and the claim's fence the task carried, and a step whose
 * effect its service cannot confirm (its books unreachable: in the durable mode, the store) is not recorded ok — it
 * fails as the store's passing failure, which a retry runs again.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ANONYMOUS } from '../../src/auth/caller.js';
import { createOrderEngine, type OrderEngine } from '../../src/composition/engine.js';
import { loadConfig } from '../../src/config.js';
import { orderKey, runOf, type Order } from '../../src/domain/order.js';
import { everyStep } from '../../src/domain/steps.js';
import { MemoryServiceBooks } from '../../src/ledger/memory-service-books.js';
import type { EffectAnswer, EffectCaller, EffectKey } from '../../src/ledger/service-books.js';

const config = loadConfig({ THREADS: '2', LOG_LEVEL: 'silent', METRICS: 'off' }, { openFileLimit: undefined });
const silent = pino({ level: 'silent' });

/** Books whose every request of `failing` steps is refused as a store that cannot be reached refuses it. */
class UnreachableFor extends MemoryServiceBooks {
  constructor(private readonly failing: ReadonlySet<string>) {
    super();
  }

  override async request(key: EffectKey, caller: EffectCaller): Promise<EffectAnswer> {
    if (this.failing.has(key.step)) throw new Error('connect ECONNREFUSED');
    return super.request(key, caller);
  }
}

const order = (orderId: string): Order => ({
  client: ANONYMOUS,
  orderId,
  amount: 1200,
  failStep: undefined,
  failCompensation: false,
  delayMs: { ...everyStep(20), refund: 0 },
  cpuMs: everyStep(0),
});

let engine: OrderEngine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

describe("a step's effect", () => {
  it('is asked of its service once per step, under the run’s key and the fence its task carried', async () => {
    const services = new MemoryServiceBooks();
    engine = createOrderEngine(config, silent, { services, callerOf: () => ({ fence: 3, instance: 'me' }) });
    const result = await engine.pipeline.process(runOf(order('once'), 7), new AbortController().signal, {
      requestId: 'once',
    });
    expect(result.failure).toBeUndefined();
    expect(result.steps.map(({ name, effect }) => ({ name, effect }))).toEqual([
      { name: 'payment', effect: 'applied' },
      { name: 'vendor', effect: 'applied' },
      { name: 'courier', effect: 'applied' },
    ]);
    const received = await services.receivedFor(orderKey(ANONYMOUS, 'once'));
    expect(received.map(({ run, step, fence, instance, answer }) => ({ run, step, fence, instance, answer }))).toEqual(
      expect.arrayContaining([
        { run: 7, step: 'vendor', fence: 3, instance: 'me', answer: 'applied' },
        { run: 7, step: 'courier', fence: 3, instance: 'me', answer: 'applied' },
      ]),
    );
    // Its message and its settlement share one answer: each request counted once, no duplicate of itself.
    expect(services.counts()).toEqual({ applied: 2, duplicate: 0, stale: 0 });
  });

  it('that its service cannot confirm fails the step as the store’s passing failure, never ok', async () => {
    engine = createOrderEngine(config, silent, { services: new UnreachableFor(new Set(['courier'])) });
    const result = await engine.pipeline.process(runOf(order('unconfirmed'), 1), new AbortController().signal, {
      requestId: 'unconfirmed',
    });
    // Before: the courier was recorded ok with no effect in its service's books (the chaos checker's effect_missing);
    // then, failed as no_courier, a final answer replayed for what was a blip of the store.
    expect(result.failure).toBe('store_unavailable');
    expect(result.steps.find((step) => step.name === 'courier')).toMatchObject({
      status: 'error',
      kind: 'store_unavailable',
    });
    expect(result.steps.find((step) => step.name === 'vendor')).toMatchObject({ status: 'ok', effect: 'applied' });
  });
});
