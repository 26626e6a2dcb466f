/**
 * The pipeline's own rules, with a runner that answers from a table: when a
 * failed order is compensated, when the compensation counts as done, and that
 * its deadline is gone once the order is.
 */
import { describe, expect, it } from 'vitest';
import type { OrderRun } from '../../src/domain/order.js';
import { OrderPipeline, type PipelineEvents } from '../../src/pipeline/order-pipeline.js';
import type { ActionDefinition, StepDefinition, StepOutcome, StepRunner } from '../../src/pipeline/steps.js';

const run: OrderRun = {
  run: 1,
  order: {
    orderId: 'o',
    amount: 100,
    failStep: undefined,
    failCompensation: false,
    delayMs: { payment: 0, vendor: 0, courier: 0, refund: 0 },
    cpuMs: { payment: 0, vendor: 0, courier: 0 },
  },
};
const STEPS: StepDefinition[] = [
  { name: 'payment', module: 'payment', compensation: { name: 'refund', module: 'refund' } },
  { name: 'vendor', module: 'vendor' },
];
const outcome = (name: ActionDefinition['name'], fields: Partial<StepOutcome>): StepOutcome => ({ name, status: 'ok', durationMs: 1, threadId: 1, attempts: 1, ...fields });

/** A runner whose steps end as the table says; the vendor fails unless told otherwise. */
function tableRunner(table: Partial<Record<ActionDefinition['name'], Partial<StepOutcome>>>, seen: AbortSignal[] = []): StepRunner {
  return {
    run: async (step, _run, signal) => {
      seen.push(signal);
      return outcome(step.name, table[step.name] ?? {});
    },
  };
}

function pipelineWith(runner: StepRunner, events?: PipelineEvents): OrderPipeline {
  return new OrderPipeline(STEPS, runner, { timeoutMs: 50, compensationTimeoutMs: 50, ...(events ? { events } : {}) });
}

const vendorDown = { status: 'error', kind: 'vendor_unavailable' } as const;

describe('OrderPipeline compensation', () => {
  it.each([
    ['went through', { status: 'ok', effect: 'applied' }, ['refund']],
    ['was canceled after its charge reached the provider', { status: 'canceled', cause: 'vendor_unavailable', effect: 'applied' }, ['refund']],
    ['lost its thread after its charge reached the provider', { status: 'error', kind: 'thread_lost', effect: 'applied' }, ['refund']],
    ['was declined', { status: 'error', kind: 'payment_declined', effect: 'refused' }, []],
    ['was canceled before its charge left', { status: 'canceled', cause: 'vendor_unavailable' }, []],
  ] as const)('voids a payment that %s', async (_case, payment, refunds) => {
    const result = await pipelineWith(tableRunner({ payment, vendor: vendorDown })).process(run, new AbortController().signal, { requestId: 'r' });
    expect(result.compensations.map((step) => step.name)).toEqual(refunds);
  });

  it.each([
    ['the provider gave the money back', { status: 'ok', effect: 'applied' }, 'vendor_unavailable'],
    ['the refund step crashed after its void reached the provider', { status: 'error', kind: 'internal', effect: 'applied' }, 'vendor_unavailable'],
    ['the provider refused', { status: 'error', kind: 'refund_failed', effect: 'refused' }, 'compensation_failed'],
    ['the void never left', { status: 'canceled', cause: 'timeout' }, 'compensation_failed'],
  ] as const)('counts a compensation done only if its void was applied: %s', async (_case, refund, failure) => {
    const failed: string[] = [];
    const events: PipelineEvents = { compensationFailed: ({ order }) => failed.push(order.orderId) };
    const result = await pipelineWith(tableRunner({ payment: { status: 'ok', effect: 'applied' }, vendor: vendorDown, refund }), events).process(run, new AbortController().signal, { requestId: 'r' });
    expect(result.failure).toBe(failure);
    expect(failed).toEqual(failure === 'compensation_failed' ? ['o'] : []);
  });
});

describe('OrderPipeline deadline', () => {
  it('is cleared when the order ends: no timer outlives it to fire on its signal', async () => {
    const seen: AbortSignal[] = [];
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
        run: async (step) => {
          if (step.name === 'refund') await new Promise((resolve) => setTimeout(resolve, 20));
          return outcome(step.name, step.name === 'payment' ? { status: 'ok', effect: 'applied' } : step.name === 'vendor' ? vendorDown : { status: 'ok', effect: 'applied' });
        },
      };
      const pipeline = pipelineWith(slowRefunds);
      const results = await Promise.all(Array.from({ length: 100 }, () => pipeline.process(run, new AbortController().signal, { requestId: 'r' })));
      expect(results.every((result) => result.failure === 'vendor_unavailable')).toBe(true);
      // Node emits the warning on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
