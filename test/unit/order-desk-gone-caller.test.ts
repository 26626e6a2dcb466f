/**
 * A caller gone before its order starts starts nothing. A copy of a request
 * its client gave up on can reach the service seconds later, after the
 * client's retry was answered (seen in the chaos test: a new connection that
 * the server accepted 2.7 s after the client had hung up). If the service
 * already knows that client is gone, no run starts, and the record keeps
 * the outcome the retry was told.
 */
import { describe, expect, it } from 'vitest';
import { ANONYMOUS } from '../../src/auth/caller.js';
import { keyOfOrder, type Order } from '../../src/domain/order.js';
import { everyAction, everyStep } from '../../src/domain/steps.js';
import { MemoryOrderRecords } from '../../src/orders/memory-order-records.js';
import type { AdmissionPolicy } from '../../src/orders/admission.js';
import { OrderDesk } from '../../src/orders/order-desk.js';
import { OrderWaiter } from '../../src/orders/order-waiter.js';
import type { OrderResult } from '../../src/pipeline/order-pipeline.js';

/** A runner whose runs this test never undoes. */
const nothingToUndo = (): Promise<never> => Promise.reject(new Error('nothing is undone in this test'));

const order: Order = {
  client: ANONYMOUS,
  orderId: 'late-copy',
  amount: 10,
  failStep: undefined,
  failCompensation: false,
  delayMs: everyAction(0),
  cpuMs: everyStep(0),
};

/** Counts the admissions it is asked for. */
class CountingPolicy implements AdmissionPolicy {
  asked = 0;
  admit(): 'admitted' {
    this.asked++;
    return 'admitted';
  }
}

const gone = (): OrderWaiter => {
  const waiter = new OrderWaiter();
  waiter.leave();
  return waiter;
};

describe('a caller gone before its run', () => {
  it('starts no run, is asked no admission, and leaves the record as the last answer left it', async () => {
    const runs: string[] = [];
    const timedOut: OrderResult = { orderId: order.orderId, steps: [], compensations: [], failure: 'timeout' };
    const records = new MemoryOrderRecords(60_000, 1 << 20);
    const desk = new OrderDesk(
      {
        undo: nothingToUndo,
        process: async (run) => {
          runs.push(`run ${run.runNumber}`);
          return timedOut;
        },
      },
      records,
    );
    const policy = new CountingPolicy();

    // The retry: run 1 times out, a passing failure, so a later request may run the order again.
    const retry = await desk.submit(order, new OrderWaiter(), { requestId: 'retry' }, policy);
    expect(retry).toMatchObject({ kind: 'answered', via: 'ran', result: { failure: 'timeout' } });

    // The copy its client gave up on, arriving now with its connection already closed.
    const late = await desk.submit(order, gone(), { requestId: 'late' }, policy);
    expect(late).toMatchObject({ kind: 'answered', result: { failure: 'client_gone', steps: [] } });

    expect(runs).toEqual(['run 1']);
    expect(policy.asked).toBe(1);
    expect(await records.get(keyOfOrder(order))).toMatchObject({
      runs: 1,
      state: 'done',
      outcome: { kind: 'timeout' },
    });
    expect(desk.runsInFlight).toBe(0);
  });

  it('joins no run under way: the callers still waiting keep it running', async () => {
    let finish!: (result: OrderResult) => void;
    const desk = new OrderDesk(
      { undo: nothingToUndo, process: () => new Promise<OrderResult>((resolve) => (finish = resolve)) },
      new MemoryOrderRecords(60_000, 1 << 20),
    );
    const policy = new CountingPolicy();
    const staying = desk.submit(order, new OrderWaiter(), { requestId: 'staying' }, policy);
    await new Promise((resolve) => setImmediate(resolve));
    expect(desk.runsInFlight).toBe(1);

    // Answered at once, not once the run it would have joined ends.
    const late = desk.submit(order, gone(), { requestId: 'late' }, policy);
    const first = await Promise.race([late, new Promise((resolve) => setImmediate(resolve, 'still waiting'))]);
    expect(first).toMatchObject({ kind: 'answered', result: { failure: 'client_gone' } });

    finish({ orderId: order.orderId, steps: [], compensations: [], failure: undefined });
    const answered = await staying;
    expect(answered).toMatchObject({ kind: 'answered', via: 'ran' });
    expect(answered.kind === 'answered' && answered.result.failure).toBeUndefined();
    expect(desk.runsInFlight).toBe(0);
  });
});
