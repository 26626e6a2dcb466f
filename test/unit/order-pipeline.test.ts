/**
 * The pipeline's own rules, with a runner that answers from a table: when a
 * failed order is compensated, when the compensation counts as done, and that
 * its deadline is gone once the order is.
 */
import { describe, expect, it } from 'vitest';
import type { CancelSignal } from '../../src/domain/cancel-signal.js';
import { OrderAborted, RunHandedOver } from '../../src/domain/errors.js';
import type { OrderRun } from '../../src/domain/order.js';
import { OrderPipeline, type CompensationFallback } from '../../src/pipeline/order-pipeline.js';
import type { ActionDefinition, StepDefinition, StepOutcome, StepRunner } from '../../src/pipeline/steps.js';
import { ANONYMOUS } from '../../src/auth/caller.js';
import { instantRun } from '../support/orders.js';

const run: OrderRun = instantRun(ANONYMOUS);
const STEPS: StepDefinition[] = [
  { name: 'payment', module: 'payment', compensation: { name: 'refund', module: 'refund' } },
  { name: 'vendor', module: 'vendor' },
];
const outcome = (name: ActionDefinition['name'], fields: Partial<StepOutcome>): StepOutcome => ({
  name,
  status: 'ok',
  durationMs: 1,
  threadId: 1,
  attempts: 1,
  ...fields,
});

/** A runner whose steps end as the table says; the vendor fails unless told otherwise. */
function tableRunner(
  table: Partial<Record<ActionDefinition['name'], Partial<StepOutcome>>>,
  seen: CancelSignal[] = [],
): StepRunner {
  return {
    run: async ({ step, signal }) => {
      seen.push(signal);
      return outcome(step.name, table[step.name] ?? {});
    },
  };
}

function pipelineWith(runner: StepRunner, refundFallback?: CompensationFallback): OrderPipeline {
  return new OrderPipeline(STEPS, runner, {
    timeoutMs: 50,
    compensationTimeoutMs: 50,
    threadStartMs: 50,
    ...(refundFallback ? { compensationFallbacks: { refund: refundFallback } } : {}),
  });
}

const vendorDown = { status: 'error', kind: 'vendor_unavailable' } as const;

describe('OrderPipeline compensation', () => {
  it.each([
    ['went through', { status: 'ok', effect: 'applied' }, ['refund']],
    [
      'was canceled after its charge reached the provider',
      { status: 'canceled', cause: 'vendor_unavailable', effect: 'applied' },
      ['refund'],
    ],
    [
      'lost its thread after its charge reached the provider',
      { status: 'error', kind: 'thread_lost', effect: 'applied' },
      ['refund'],
    ],
    ['was declined', { status: 'error', kind: 'payment_declined', effect: 'refused' }, []],
    ['was canceled before its charge left', { status: 'canceled', cause: 'vendor_unavailable' }, []],
  ] as const)('voids a payment that %s', async (_case, payment, refunds) => {
    const result = await pipelineWith(tableRunner({ payment, vendor: vendorDown })).process(
      run,
      new AbortController().signal,
      { requestId: 'r' },
    );
    expect(result.compensations.map((step) => step.name)).toEqual(refunds);
  });

  it.each([
    ['failed before its charge left', { status: 'error', kind: 'payment_unavailable' }],
    ['was canceled before its charge left', { status: 'canceled', cause: 'vendor_unavailable' }],
    ['was refused a thread', { status: 'error', kind: 'overloaded' }],
  ] as const)(
    'voids the payment of a run taken over whose own attempt %s: the lost attempt may have charged',
    async (_case, payment) => {
      const result = await pipelineWith(tableRunner({ payment, vendor: vendorDown })).process(
        run,
        new AbortController().signal,
        { requestId: 'r' },
        { finished: [] },
      );
      expect(result.compensations.map((step) => step.name)).toEqual(['refund']);
    },
  );

  it.each([
    ['the provider gave the money back', { status: 'ok', effect: 'applied' }, 'vendor_unavailable'],
    [
      'the refund step crashed after its void reached the provider',
      { status: 'error', kind: 'internal', effect: 'applied' },
      'vendor_unavailable',
    ],
    ['the provider refused', { status: 'error', kind: 'refund_failed', effect: 'refused' }, 'compensation_failed'],
    [
      'the void never left, and nothing takes the refund over',
      { status: 'canceled', cause: 'timeout' },
      'compensation_failed',
    ],
  ] as const)('counts a compensation done only if its void was applied: %s', async (_case, refund, failure) => {
    const result = await pipelineWith(
      tableRunner({ payment: { status: 'ok', effect: 'applied' }, vendor: vendorDown, refund }),
    ).process(run, new AbortController().signal, { requestId: 'r' });
    expect(result.failure).toBe(failure);
  });
});

describe('OrderPipeline with a fallback for refunds the pool could not get answered', () => {
  const paid = { status: 'ok', effect: 'applied' } as const;
  /** A fallback that answers as told, and notes every refund it took over. */
  function fallback(answer: 'applied' | 'refused' | 'pending', taken: OrderRun[] = []): CompensationFallback {
    return { takeOver: async (over) => (taken.push(over), answer) };
  }

  it.each([
    [
      'lost its thread twice before its void left',
      { status: 'error', kind: 'thread_lost', threadFate: 'died', attempts: 2 },
    ],
    ['outlived its deadline before its void left', { status: 'canceled', cause: 'timeout' }],
    ['was refused a place on the pool', { status: 'error', kind: 'overloaded' }],
  ] as const)(
    'hands over a refund that %s: the payment is voided and the order keeps its own failure, never compensation_failed',
    async (_case, refund) => {
      const taken: OrderRun[] = [];
      const result = await pipelineWith(
        tableRunner({ payment: paid, vendor: vendorDown, refund }),
        fallback('applied', taken),
      ).process(run, new AbortController().signal, { requestId: 'r' });
      expect(result.failure).toBe('vendor_unavailable');
      expect(taken).toEqual([run]);
      expect(result.compensations).toEqual([expect.objectContaining({ name: 'refund', effect: 'applied' })]);
    },
  );

  it('hands over a refund whose runner never became ready while a thread may take to start, without running it', async () => {
    const taken: OrderRun[] = [];
    const ran: string[] = [];
    const neverReady: StepRunner = {
      run: async ({ step }) => (ran.push(step.name), outcome(step.name, step.name === 'vendor' ? vendorDown : paid)),
      // Ready for the order's steps; none of its threads is up once they have ended.
      whenReady: () => (ran.length < 2 ? undefined : new Promise<void>(() => {})),
    };
    const result = await pipelineWith(neverReady, fallback('applied', taken)).process(
      run,
      new AbortController().signal,
      { requestId: 'r' },
    );
    expect(ran).toEqual(['payment', 'vendor']);
    expect(taken).toEqual([run]);
    expect(result.failure).toBe('vendor_unavailable');
    expect(result.compensations).toEqual([
      expect.objectContaining({ name: 'refund', status: 'canceled', cause: 'timeout', attempts: 0, effect: 'applied' }),
    ]);
  });

  it('leaves the order its own failure while the fallback keeps asking a provider that cannot be reached', async () => {
    const result = await pipelineWith(
      tableRunner({ payment: paid, vendor: vendorDown, refund: { status: 'error', kind: 'thread_lost' } }),
      fallback('pending'),
    ).process(run, new AbortController().signal, {
      requestId: 'r',
    });
    expect(result.failure).toBe('vendor_unavailable');
  });

  it('fails the order compensation_failed only when the provider refused: on the pool, or when the fallback asked it', async () => {
    const taken: OrderRun[] = [];
    const refusedOnPool = await pipelineWith(
      tableRunner({
        payment: paid,
        vendor: vendorDown,
        refund: { status: 'error', kind: 'refund_failed', effect: 'refused' },
      }),
      fallback('applied', taken),
    ).process(run, new AbortController().signal, { requestId: 'r' });
    expect(refusedOnPool.failure).toBe('compensation_failed');
    // A refusal is the provider's word: not asked again.
    expect(taken).toEqual([]);
    const refusedToFallback = await pipelineWith(
      tableRunner({ payment: paid, vendor: vendorDown, refund: { status: 'error', kind: 'thread_lost' } }),
      fallback('refused'),
    ).process(run, new AbortController().signal, {
      requestId: 'r',
    });
    expect(refusedToFallback.failure).toBe('compensation_failed');
  });
});

describe('OrderPipeline compensation deadline', () => {
  it('counts from when the runner can start it: a wait for its thread longer than the deadline is no part of it', async () => {
    let started = false;
    let up: () => void = () => {};
    /** When the refund was asked for, and when its thread came up: the wait the order saw lies between the two. */
    let askedAt = 0;
    let upAt = 0;
    const starting = new Promise<void>((resolve) => (up = resolve));
    /** Whether the refund's signal had fired by the time a thread took it. */
    const canceledWhenTaken: boolean[] = [];
    const runner: StepRunner = {
      run: async ({ step, signal }) => {
        if (step.name !== 'refund')
          return outcome(step.name, step.name === 'vendor' ? vendorDown : { effect: 'applied' });
        // Posted while no thread is up, it waits for one, as in the pool's line.
        await starting;
        canceledWhenTaken.push(signal.aborted);
        return outcome(step.name, signal.aborted ? { status: 'canceled', cause: 'timeout' } : { effect: 'applied' });
      },
      // The pipeline asks this before it runs the refund: the last time while no thread is up is the refund's.
      whenReady: () => (started ? undefined : ((askedAt = performance.now()), starting)),
    };
    // The thread comes up twice the compensation's deadline (50 ms) after it was asked for, within the order's.
    setTimeout(() => ((started = true), (upAt = performance.now()), up()), 100);
    const pipeline = new OrderPipeline(STEPS, runner, { timeoutMs: 1000, compensationTimeoutMs: 50 });
    const result = await pipeline.process(run, new AbortController().signal, { requestId: 'r' });
    expect(canceledWhenTaken).toEqual([false]);
    expect(result.compensations).toEqual([expect.objectContaining({ name: 'refund', status: 'ok' })]);
    // Its time as the order saw it includes the wait, measured from when it was asked for: on a busy machine the order
    // reached its refund 14 ms after the thread's timer was set, and a fixed 90 ms read 86.
    expect(upAt - askedAt).toBeGreaterThan(50);
    expect(result.compensations[0]?.durationMs).toBeGreaterThanOrEqual(Math.floor(upAt - askedAt));
  });
});

describe('OrderPipeline deadline', () => {
  it('is cleared when the order ends: no timer outlives it to fire on its signal', async () => {
    const seen: CancelSignal[] = [];
    await pipelineWith(tableRunner({}, seen)).process(run, new AbortController().signal, { requestId: 'r' });
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(seen.map((signal) => signal.aborted)).toEqual([false, false]);
  });
});

describe('OrderPipeline compensations in flight', () => {
  it('share no signal: a hundred refunds at once add no listener anywhere (Node warns of a leak past ten)', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const slowRefunds: StepRunner = {
        run: async ({ step }) => {
          if (step.name === 'refund') await new Promise((resolve) => setTimeout(resolve, 20));
          return outcome(
            step.name,
            step.name === 'payment'
              ? { status: 'ok', effect: 'applied' }
              : step.name === 'vendor'
                ? vendorDown
                : { status: 'ok', effect: 'applied' },
          );
        },
      };
      const pipeline = pipelineWith(slowRefunds);
      const results = await Promise.all(
        Array.from({ length: 100 }, () => pipeline.process(run, new AbortController().signal, { requestId: 'r' })),
      );
      expect(results.every((result) => result.failure === 'vendor_unavailable')).toBe(true);
      // Node emits the warning on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('OrderPipeline stopped to hand its run over (a graceful stop, durable mode)', () => {
  /** A runner whose payment is charged at once and whose vendor runs until canceled; and the steps recorded. */
  function handOverSetting() {
    const recorded: string[] = [];
    const runner: StepRunner = {
      run: async ({ step, signal }) => {
        if (step.name !== 'vendor') return outcome(step.name, { status: 'ok', effect: 'applied' });
        if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', resolve));
        return outcome('vendor', { status: 'canceled', cause: 'shutting_down' });
      },
    };
    const pipeline = new OrderPipeline(STEPS, runner, {
      timeoutMs: 1000,
      compensationTimeoutMs: 50,
      journal: { stepEnded: (_run, ended) => void recorded.push(`${ended.name} ${ended.status}`) },
    });
    return { pipeline, recorded };
  }

  it('undoes nothing, its payment least of all, and records no step it canceled: the run goes on elsewhere', async () => {
    const { pipeline, recorded } = handOverSetting();
    const stop = new AbortController();
    const ended = pipeline.process(run, stop.signal, { requestId: 'r' });
    await new Promise((resolve) => setImmediate(resolve));
    stop.abort(new RunHandedOver());
    expect(await ended).toMatchObject({ failure: 'shutting_down', handedOver: true, compensations: [] });
    expect(recorded).toEqual(['payment ok']);
  });

  it('is no shutdown cancel: that voids the payment, as ever', async () => {
    const { pipeline, recorded } = handOverSetting();
    const stop = new AbortController();
    const ended = pipeline.process(run, stop.signal, { requestId: 'r' });
    await new Promise((resolve) => setImmediate(resolve));
    stop.abort(new OrderAborted('shutting_down'));
    const result = await ended;
    expect(result.handedOver).toBeUndefined();
    expect(result.compensations.map((step) => step.name)).toEqual(['refund']);
    expect(recorded).toEqual(['payment ok', 'vendor canceled']);
  });
});
