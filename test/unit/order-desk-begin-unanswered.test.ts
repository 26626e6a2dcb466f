/**
 * A begin the store failed to answer. Sent and unanswered (a statement timed
 * out, its connection lost), it may have committed: the run is then taken
 * over by another instance's recovery and run to its end, charged. The
 * client is told its outcome is unknown — a retry learns it — never that
 * the order was shed (overloaded) or could not be stored, which say it never
 * ran (seen in the chaos test: answered 503 overloaded, recorded ok).
 */
import { describe, expect, it } from 'vitest';
import { ANONYMOUS } from '../../src/auth/caller.js';
import { StoreBusy, StoreUnavailable, type OrderFailureKind } from '../../src/domain/errors.js';
import type { Order } from '../../src/domain/order.js';
import { everyAction, everyStep } from '../../src/domain/steps.js';
import type { AdmissionPolicy } from '../../src/orders/admission.js';
import { MemoryOrderRecords } from '../../src/orders/memory-order-records.js';
import { OrderDesk } from '../../src/orders/order-desk.js';
import type { Begun } from '../../src/orders/order-records.js';
import { OrderWaiter } from '../../src/orders/order-waiter.js';

const order: Order = {
  client: ANONYMOUS,
  orderId: 'begun-unanswered',
  amount: 10,
  failStep: undefined,
  failCompensation: false,
  delayMs: everyAction(0),
  cpuMs: everyStep(0),
};

const admitAll: AdmissionPolicy = { admit: () => 'admitted' };

/** Records whose every begin fails with `failure`. */
class FailingBegins extends MemoryOrderRecords {
  constructor(private readonly failure: Error) {
    super(60_000, 1 << 20);
  }
  override begin(): Promise<Begun> {
    return Promise.reject(this.failure);
  }
}

const CASES: ReadonlyArray<[string, Error, OrderFailureKind]> = [
  ['timed out once sent', new StoreBusy('not answered in time', { unanswered: true }), 'outcome_unknown'],
  [
    'lost with its connection once sent',
    new StoreUnavailable('connection lost', { unanswered: true }),
    'outcome_unknown',
  ],
  ['never sent: no connection came free', new StoreBusy('no connection came free'), 'overloaded'],
  ['never sent: the store is down', new StoreUnavailable('unreachable'), 'store_unavailable'],
];

describe('a begin the store did not answer', () => {
  it.each(CASES)('%s: answered %s', async (_, failure, told) => {
    const runs: number[] = [];
    const desk = new OrderDesk(
      {
        undo: () => Promise.reject(new Error('nothing ran, nothing is undone')),
        process: (run) => {
          runs.push(run.runNumber);
          return Promise.reject(new Error('no run begins in this test'));
        },
      },
      new FailingBegins(failure),
    );
    const answer = await desk.submit(order, new OrderWaiter(), { requestId: 'r' }, admitAll);
    expect(answer).toMatchObject({ kind: 'answered', result: { failure: told, steps: [] } });
    expect(runs).toEqual([]);
    expect(desk.runsInFlight).toBe(0);
  });
});
