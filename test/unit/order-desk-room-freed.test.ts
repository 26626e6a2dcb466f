/**
 * Room freed while a refused order reads the records is not lost. An order refused for want of room asks the records
 * whether it has an outcome to replay before it waits in the admission line; in the durable mode that read is a round
 * trip to Postgres, and a run that ends meanwhile tells the line of its room while the order is not in it yet. The
 * order, once in the line, is told to try again all the same — not left waiting its whole wait and refused beside the
 * room. The read is held open by the test (a handshake, no sleep); the wait is the line's own, in real time.
 */
import { describe, expect, it } from 'vitest';
import { keyOfOrder, type Order } from '../../src/domain/order.js';
import type { Tier } from '../../src/domain/tier.js';
import { AdmissionLine } from '../../src/fairness/admission-line.js';
import { NO_SHARERS } from '../../src/fairness/fair-share.js';
import { MemoryOrderRecords } from '../../src/orders/memory-order-records.js';
import { NO_BREAKERS, OrderAdmission, type AdmissionRules } from '../../src/orders/order-admission.js';
import { OrderDesk } from '../../src/orders/order-desk.js';
import type { OrderRecord } from '../../src/orders/order-records.js';
import type { OrderResult } from '../../src/pipeline/order-pipeline.js';
import { instantRun } from '../support/orders.js';

/** The longest an order waits in the line here: what the lost wake-up would cost. */
const MAX_WAIT_MS = 1500;

const orderOf = (orderId: string): Order & { readonly tier: Tier } => ({
  ...instantRun('acme', orderId).order,
  tier: 'standard',
});

const succeeded = (orderId: string): OrderResult => ({ orderId, steps: [], compensations: [], failure: undefined });

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/** Records whose reads (`get`) wait, while held, until the test lets them go; `reading` settles as one begins. */
class HeldReads extends MemoryOrderRecords {
  held: { reading: ReturnType<typeof deferred>; release: ReturnType<typeof deferred> } | undefined;

  override async get(key: Parameters<MemoryOrderRecords['get']>[0]): Promise<OrderRecord | undefined> {
    const held = this.held;
    if (held) {
      held.reading.resolve();
      await held.release.promise;
    }
    return super.get(key);
  }
}

describe('a run that ends while a refused order reads the records', () => {
  it('frees its room to that order once it waits in the line: it starts, not refused after its whole wait', async () => {
    const records = new HeldReads(60_000, 1 << 20);
    const firstMayEnd = deferred();
    const desk = new OrderDesk(
      {
        process: async (run) => {
          if (run.order.orderId === 'first') await firstMayEnd.promise;
          return succeeded(run.order.orderId);
        },
        undo: () => Promise.reject(new Error('nothing is undone in this test')),
      },
      records,
    );
    // One order in flight at most, tiers in play: an order refused for room waits in the line, as in the service.
    const line = new AdmissionLine({
      places: 1,
      maxWaitMs: MAX_WAIT_MS,
      sharers: () => NO_SHARERS,
      heldOf: () => 0,
      weightOf: () => 1,
      bestRank: () => 0,
      tiered: () => true,
    });
    desk.onRunEnd(() => line.roomFreed());
    const rules: AdmissionRules = {
      capacity: () => ({ ordersInFlight: desk.runsInFlight, maxInflight: 1 }),
      draining: () => false,
      dependencies: NO_BREAKERS,
      tiers: { headroom: { fullFor: () => undefined }, line },
      observer: { orderAdmitted: () => {} },
    };
    const submit = (order: Order & { readonly tier: Tier }) => {
      const admission = new OrderAdmission(rules, order);
      return desk.submit(order, admission, { requestId: order.orderId }, admission);
    };

    const first = submit(orderOf('first'));
    expect(desk.runsInFlight).toBe(1);

    // The second is refused (no room) and reads the records; its read held open, the first run ends.
    const held = { reading: deferred(), release: deferred() };
    records.held = held;
    const sent = performance.now();
    const second = submit(orderOf('second'));
    await held.reading.promise;
    firstMayEnd.resolve();
    expect(await first).toMatchObject({ kind: 'answered', via: 'ran', result: { failure: undefined } });
    expect(desk.runsInFlight).toBe(0);
    expect(line.length).toBe(0);

    // The read answers now: nothing to replay, and room for one.
    records.held = undefined;
    held.release.resolve();
    const answer = await second;
    const answeredMs = performance.now() - sent;
    expect(answer).toMatchObject({ kind: 'answered', via: 'ran', result: { orderId: 'second', failure: undefined } });
    expect(answeredMs).toBeLessThan(MAX_WAIT_MS / 2);
    expect(await records.get(keyOfOrder(orderOf('second')))).toMatchObject({ state: 'done', runs: 1 });
    expect(desk.runsInFlight).toBe(0);
    expect(line.length).toBe(0);
  });
});
