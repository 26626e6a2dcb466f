/**
 * A cancel racing the order's own end, decided by the order's record: a
 * cancel marked before the run's success is recorded turns the success into
 * an undo (its payment refunded) and a run recorded canceled; a cancel that
 * comes after the success is recorded finds the order ended and changes
 * nothing. The runner here ignores the cancel on purpose — a step that had
 * just ended when the cancel came — so that only the record decides.
 */
import { describe, expect, it } from 'vitest';
import { ANONYMOUS } from '../../src/auth/caller.js';
import { keyOfOrder, type Order } from '../../src/domain/order.js';
import { everyAction, everyStep } from '../../src/domain/steps.js';
import { MemoryOrderRecords } from '../../src/orders/memory-order-records.js';
import type { AdmissionPolicy } from '../../src/orders/admission.js';
import { OrderDesk, type OrderRunner } from '../../src/orders/order-desk.js';
import { OrderWaiter } from '../../src/orders/order-waiter.js';
import type { OrderResult } from '../../src/pipeline/order-pipeline.js';
import type { StepOutcome } from '../../src/pipeline/steps.js';

const ADMIT_EVERY_ORDER: AdmissionPolicy = { admit: () => 'admitted' };

const order: Order = {
  client: ANONYMOUS,
  orderId: 'raced',
  amount: 10,
  failStep: undefined,
  failCompensation: false,
  delayMs: everyAction(0),
  cpuMs: everyStep(0),
};
const key = keyOfOrder(order);

const paid: StepOutcome = { name: 'payment', status: 'ok', durationMs: 1, threadId: 1, attempts: 1, effect: 'applied' };
const refunded: StepOutcome = {
  name: 'refund',
  status: 'ok',
  durationMs: 1,
  threadId: 1,
  attempts: 1,
  effect: 'applied',
};

/** Runs that end with success when the test says so, whatever stops them; and undoes what it is asked to. */
class SucceedingRunner implements OrderRunner {
  undone: string[] = [];
  private succeed!: () => void;
  private onStart!: () => void;
  // After onStart: a field declared later would be defined again, undefined, after this one's initializer ran.
  readonly started = new Promise<void>((started) => (this.onStart = started));

  process(): Promise<OrderResult> {
    this.onStart();
    return new Promise((resolve) => {
      this.succeed = () => resolve({ orderId: order.orderId, steps: [paid], compensations: [], failure: undefined });
    });
  }

  async undo(_run: unknown, steps: readonly StepOutcome[], failure: OrderResult['failure']): Promise<OrderResult> {
    this.undone.push(`${steps.map((step) => step.name).join()} as ${failure}`);
    return { orderId: order.orderId, steps, compensations: [refunded], failure };
  }

  end(): void {
    this.succeed();
  }
}

describe('a cancel racing the order’s own success', () => {
  it('marked first: the success is not recorded; what the run did is undone, and it is recorded canceled', async () => {
    const runner = new SucceedingRunner();
    const records = new MemoryOrderRecords(60_000, 1 << 20);
    const desk = new OrderDesk(runner, records);
    const submitted = desk.submit(order, new OrderWaiter(), { requestId: 'r' }, ADMIT_EVERY_ORDER);
    await runner.started;
    const canceling = desk.cancel(key, { actor: 'admin' }, 5000);
    runner.end();
    const submission = await submitted;
    expect(submission.kind === 'answered' && submission.result.failure).toBe('canceled');
    expect(runner.undone).toEqual(['payment as canceled']);
    expect(await canceling).toEqual({ kind: 'canceled', outcome: 'canceled' });
    expect((await records.get(key))?.outcome?.kind).toBe('canceled');
  });

  it('recorded first: the cancel finds the order ended, and nothing is undone', async () => {
    const runner = new SucceedingRunner();
    const records = new MemoryOrderRecords(60_000, 1 << 20);
    const desk = new OrderDesk(runner, records);
    const submitted = desk.submit(order, new OrderWaiter(), { requestId: 'r' }, ADMIT_EVERY_ORDER);
    await runner.started;
    runner.end();
    const submission = await submitted;
    expect(await desk.cancel(key, { actor: 'admin' }, 5000)).toEqual({ kind: 'ended', outcome: 'ok' });
    expect(submission.kind === 'answered' && submission.result.failure).toBeUndefined();
    expect(runner.undone).toEqual([]);
    expect((await records.get(key))?.outcome?.kind).toBe('ok');
  });
});
