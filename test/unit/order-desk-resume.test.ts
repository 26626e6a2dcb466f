/**
 * A run taken over from a lost instance and resumed here (forward recovery)
 * belongs to a client answered 202 long before, who waits for its end
 * elsewhere: a retry that joins it here and then leaves must not stop it —
 * the last caller leaving stops a run, and the resumed run's own client
 * counts as one.
 */
import { describe, expect, it } from 'vitest';
import { ANONYMOUS } from '../../src/auth/caller.js';
import { keyOfOrder, type Order } from '../../src/domain/order.js';
import { everyAction, everyStep } from '../../src/domain/steps.js';
import type { AdmissionPolicy } from '../../src/orders/admission.js';
import { fingerprintOf } from '../../src/orders/fingerprints.js';
import { MemoryOrderRecords } from '../../src/orders/memory-order-records.js';
import { OrderDesk } from '../../src/orders/order-desk.js';
import { OrderWaiter } from '../../src/orders/order-waiter.js';
import type { RunStopper } from '../../src/pipeline/order-in-flight.js';
import type { OrderResult } from '../../src/pipeline/order-pipeline.js';
import type { StepOutcome } from '../../src/pipeline/steps.js';

const order: Order = {
  client: ANONYMOUS,
  orderId: 'resumed',
  amount: 10,
  failStep: undefined,
  failCompensation: false,
  delayMs: everyAction(0),
  cpuMs: everyStep(0),
  deadlineMs: 20_000,
};

const ADMIT: AdmissionPolicy = { admit: () => 'admitted' };

describe('a resumed run', () => {
  it('is not stopped by a retry that joins it and leaves; it runs after its recorded steps', async () => {
    const { promise: released, resolve: release } = Promise.withResolvers<void>();
    let stop: RunStopper | undefined;
    let given: readonly StepOutcome[] | undefined;
    const desk = new OrderDesk(
      {
        undo: () => Promise.reject(new Error('nothing is undone in this test')),
        process: async (run, stopper, _trace, takenOver) => {
          stop = stopper;
          given = takenOver?.finished;
          await released;
          const result: OrderResult = { orderId: run.order.orderId, steps: [], compensations: [], failure: undefined };
          return result;
        },
      },
      new MemoryOrderRecords(60_000, 1 << 20),
    );
    const payment: StepOutcome = { name: 'payment', status: 'ok', durationMs: 5, threadId: 1, attempts: 1 };
    desk.resume(
      { key: keyOfOrder(order), run: 7, fingerprint: fingerprintOf(order), order, finished: [payment] },
      { requestId: 'resume' },
    );
    expect(given).toEqual([payment]);

    const waiter = new OrderWaiter();
    const joined = desk.submit(order, waiter, { requestId: 'retry' }, ADMIT);
    waiter.leave();
    expect(stop!.stopped).toBe(false);

    release();
    expect(await joined).toMatchObject({ kind: 'answered', via: 'joined' });
    await desk.whenIdle();
    expect(desk.runsInFlight).toBe(0);
  });
});
