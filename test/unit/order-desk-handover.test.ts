/**
 * The desk at a graceful stop (src/orders/order-desk.ts, stopAtShutdown): a
 * run another instance can run on — its order has a deadline of its own,
 * and the records hand runs over — is stopped to be handed over, and given
 * up in the records unended, never finished here; any other run is canceled
 * `shutting_down` and finished as ever. Either's caller is told
 * `shutting_down`.
 */
import { describe, expect, it } from 'vitest';
import { ANONYMOUS } from '../../src/auth/caller.js';
import { abortKind, RunHandedOver } from '../../src/domain/errors.js';
import type { Order, OrderKey } from '../../src/domain/order.js';
import type { AdmissionPolicy } from '../../src/orders/admission.js';
import { MemoryOrderRecords } from '../../src/orders/memory-order-records.js';
import { OrderDesk } from '../../src/orders/order-desk.js';
import type { OrderRecords, RecordedOutcome } from '../../src/orders/order-records.js';
import { OrderWaiter } from '../../src/orders/order-waiter.js';
import type { RunStopper } from '../../src/pipeline/order-in-flight.js';
import { instantOrder } from '../support/orders.js';
import type { OrderResult } from '../../src/pipeline/order-pipeline.js';

const orderOf = (orderId: string, deadlineMs?: number): Order => instantOrder(ANONYMOUS, orderId, deadlineMs);

const ADMIT: AdmissionPolicy = { admit: () => 'admitted' };

/** Records that hand runs over (as a shared store's do), with what they were told. */
function recordsHandingOver(told: string[]): OrderRecords {
  const records = new MemoryOrderRecords(60_000, 1 << 20);
  return Object.assign(records, {
    finish: (key: OrderKey, run: number, outcome: RecordedOutcome) => {
      told.push(`finish ${key} ${outcome.kind}`);
      return MemoryOrderRecords.prototype.finish.call(records, key, run, outcome);
    },
    handOver: (key: OrderKey) => {
      told.push(`hand over ${key}`);
      return Promise.resolve(true);
    },
  });
}

describe('the desk at a graceful stop', () => {
  it('hands over a run with a deadline of its own, unrecorded; cancels one on the service deadline; both told shutting_down', async () => {
    const told: string[] = [];
    const desk = new OrderDesk(
      {
        undo: () => Promise.reject(new Error('nothing is undone in this test')),
        // Each run goes on until stopped, and ends as the pipeline ends a stopped one: handed over, or canceled.
        process: (run, stop: RunStopper) =>
          new Promise<OrderResult>((resolve) =>
            stop.follow({
              parentStopped: (reason) =>
                resolve({
                  orderId: run.order.orderId,
                  steps: [],
                  compensations: [],
                  failure: abortKind(reason),
                  ...(reason instanceof RunHandedOver ? { handedOver: true as const } : {}),
                }),
            }),
          ),
      },
      recordsHandingOver(told),
    );
    const runs = [orderOf('own-deadline', 30_000), orderOf('service-deadline')].map((order) =>
      desk.submit(order, new OrderWaiter(), { requestId: order.orderId }, ADMIT),
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(desk.stopAtShutdown()).toEqual({ handedOver: 1, canceled: 1 });
    for (const submission of await Promise.all(runs))
      expect(submission).toMatchObject({ kind: 'answered', result: { failure: 'shutting_down' } });
    expect(told.sort()).toEqual([
      `finish ${ANONYMOUS}:service-deadline shutting_down`,
      `hand over ${ANONYMOUS}:own-deadline`,
    ]);
    await desk.whenIdle();
    expect(desk.handedOver).toBe(1);
  });

  it('counts as handed over only what the records took: a run whose steps had all ended as it was stopped finishes here', async () => {
    const told: string[] = [];
    let stepsEnd: () => void = () => {};
    const desk = new OrderDesk(
      {
        undo: () => Promise.reject(new Error('nothing is undone in this test')),
        // Its steps ended before the stop: the pipeline answers their success whatever came after.
        process: (run) =>
          new Promise<OrderResult>((resolve) => {
            stepsEnd = () => resolve({ orderId: run.order.orderId, steps: [], compensations: [], failure: undefined });
          }),
      },
      recordsHandingOver(told),
    );
    const submitted = desk.submit(orderOf('ended', 30_000), new OrderWaiter(), { requestId: 'ended' }, ADMIT);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(desk.stopAtShutdown()).toEqual({ handedOver: 1, canceled: 0 });
    stepsEnd();
    expect(await submitted).toMatchObject({ kind: 'answered', result: { failure: undefined } });
    await desk.whenIdle();
    expect(told).toEqual([`finish ${ANONYMOUS}:ended ok`]);
    expect(desk.handedOver).toBe(0);
  });
});
