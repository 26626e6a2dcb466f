/**
 * The payment provider's books in memory (src/ledger/memory-ledger.ts): each run's money, an order's totals over its
 * runs, and what one order's books keep on the heap — they stay as long as its record (IDEMPOTENCY_TTL_MS), folded
 * into it once the order is done.
 */
import { queryObjects } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { MemoryLedger } from '../../src/ledger/memory-ledger.js';
import { orderKey } from '../../src/domain/order.js';
import type { RecordedOutcome } from '../../src/orders/order-records.js';
import { MemoryStore } from '../../src/store/memory-store.js';

describe('the in-memory ledger', () => {
  it("keeps each run's money, and totals an order's runs", async () => {
    const ledger = new MemoryLedger();
    const order = orderKey('c', 'o-1');
    expect(await ledger.charge({ order, run: 1 }, 500, false)).toBe('charged');
    expect(await ledger.charge({ order, run: 1 }, 500, false)).toBe('charged');
    expect(await ledger.void({ order, run: 1 }, false)).toBe('refunded');
    expect(await ledger.charge({ order, run: 2 }, 700, false)).toBe('charged');
    expect(await ledger.charge({ order, run: 3 }, 900, true)).toBe('declined');
    // A void for a run whose charge has not come: the charge, when it comes, is not taken.
    expect(await ledger.void({ order, run: 4 }, false)).toBe('nothing_to_refund');
    expect(await ledger.charge({ order, run: 4 }, 100, false)).toBe('voided');
    expect(ledger.moneyOfRunNow({ order, run: 1 })).toEqual({ charged: 500, refunded: 500 });
    expect(ledger.moneyOfRunNow({ order, run: 2 })).toEqual({ charged: 700, refunded: 0 });
    expect(ledger.moneyOfRunNow({ order, run: 9 })).toEqual({ charged: 0, refunded: 0 });
    expect(ledger.moneyOfNow(order)).toEqual({ charged: 1200, refunded: 500 });
    expect(ledger.counts()).toEqual({ charges: 2, declines: 1, refunds: 1, refusals: 0 });
    ledger.forget(order);
    expect(ledger.moneyOfNow(order)).toBeUndefined();
  });

  it("keeps one record per run, no Map per order (a Map's table was most of an order's books)", async () => {
    const ledger = new MemoryLedger();
    const orders = 1_000;
    const mapsBefore = queryObjects(Map, { format: 'count' });
    for (let i = 0; i < orders; i++) await ledger.charge({ order: orderKey('c', `o-${i}`), run: 1 }, 100, false);
    expect(queryObjects(Map, { format: 'count' }) - mapsBefore).toBeLessThan(orders / 10);
    expect(ledger.moneyOfNow(orderKey('c', 'o-7'))).toEqual({ charged: 100, refunded: 0 });
  });
});

describe("a done order's books, folded into its record (the in-memory store)", () => {
  const done = (orderId: string): RecordedOutcome => ({
    kind: 'ok',
    replay: { orderId, steps: [], compensations: [], failure: undefined },
  });
  const storeOf = () => {
    const store = new MemoryStore({
      ttlMs: 60_000,
      maxBytes: 1 << 20,
      couriers: 1,
      atRiskBytes: 270,
      eventsMax: 100,
      clientWeights: new Map(),
    });
    return { store, ledger: store.ledger, records: store.records };
  };

  it("are read there — its money, each run's, its runs' totals — and come back to the provider when it runs again", async () => {
    const { ledger, records } = storeOf();
    const order = orderKey('c', 'o');
    // Run 1 charged, then timed out: voided, not final.
    await records.begin(order, 'fp');
    await ledger.charge({ order, run: 1 }, 500, false);
    await ledger.void({ order, run: 1 }, false);
    await records.finish(order, 1, { kind: 'timeout', replay: undefined });
    expect(ledger.moneyOfNow(order)).toEqual({ charged: 500, refunded: 500 });
    expect(ledger.moneyOfRunNow({ order, run: 1 })).toEqual({ charged: 500, refunded: 500 });
    // Run 2: the books of run 1 are the provider's again while it runs, then folded in again.
    expect(await records.begin(order, 'fp')).toEqual({ kind: 'started', run: 2 });
    expect(await ledger.charge({ order, run: 2 }, 500, false)).toBe('charged');
    await records.finish(order, 2, done('o'));
    expect(ledger.moneyOfNow(order)).toEqual({ charged: 1000, refunded: 500 });
    expect(ledger.moneyOfRunNow({ order, run: 2 })).toEqual({ charged: 500, refunded: 0 });
    expect(ledger.moneyOfRunNow({ order, run: 3 })).toEqual({ charged: 0, refunded: 0 });
    expect(await ledger.moneyOf(orderKey('c', 'never'))).toBeUndefined();
  });

  it('take a request that arrives late: a charge of a run voided is refused, a void refunds, and the record keeps it', async () => {
    const { store, ledger, records } = storeOf();
    const order = orderKey('c', 'late');
    await records.begin(order, 'fp');
    await ledger.charge({ order, run: 1 }, 700, false);
    await records.finish(order, 1, done('late'));
    const bytesDone = records.estimatedBytes();
    expect(await ledger.void({ order, run: 1 }, false)).toBe('refunded');
    expect(await ledger.charge({ order, run: 1 }, 700, false)).toBe('voided');
    expect(await ledger.void({ order, run: 1 }, false)).toBe('nothing_to_refund');
    expect(ledger.moneyOfNow(order)).toEqual({ charged: 700, refunded: 700 });
    // Still the same record, replayed, a byte or two bigger: the refund is written in it.
    expect(await records.begin(order, 'fp')).toEqual({ kind: 'replay', result: done('late').replay });
    expect(records.size()).toBe(1);
    expect(records.estimatedBytes() - bytesDone).toBeLessThanOrEqual(9);
    // The late refund has its event, after the outcome's.
    const { events } = await store.events.log.page('c', [], 10);
    expect(events.map((event) => [event.type, event.money])).toEqual([
      ['order.succeeded', { charged: 700, refunded: 0 }],
      ['payment.refunded', { charged: 700, refunded: 700 }],
    ]);
  });
});
