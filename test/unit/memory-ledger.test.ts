/**
 * The payment provider's books in memory (src/ledger/memory-ledger.ts): each run's money, an order's totals over its
 * runs, and what one order's books keep on the heap — they stay as long as its record (IDEMPOTENCY_TTL_MS).
 */
import { queryObjects } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { MemoryLedger } from '../../src/ledger/memory-ledger.js';
import { orderKey } from '../../src/domain/order.js';

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
