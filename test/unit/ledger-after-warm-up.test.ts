/**
 * The engine's books while the service warms up (src/warm-up/ledger-after-warm-up.ts): every request to the scratch
 * book until `open()`, every one to the real book after, and the counts always the real book's.
 */
import { describe, expect, it } from 'vitest';
import { orderKey } from '../../src/domain/order.js';
import { MemoryLedger } from '../../src/ledger/memory-ledger.js';
import { LedgerAfterWarmUp } from '../../src/warm-up/ledger-after-warm-up.js';

describe('the books after the warm-up', () => {
  it("sends the warm-up's charges and voids to the scratch book, and the real book sees none of them", async () => {
    const real = new MemoryLedger();
    const scratch = new MemoryLedger();
    const ledger = new LedgerAfterWarmUp(real, scratch);
    const key = { order: orderKey('anonymous', 'warm-up-0'), run: 1 };
    expect(await ledger.charge(key, 1200, false)).toBe('charged');
    expect(await ledger.void(key, false)).toBe('refunded');
    expect(await ledger.moneyOfRun(key)).toEqual({ charged: 1200, refunded: 1200 });
    expect(scratch.counts()).toEqual({ charges: 1, declines: 0, refunds: 1, refusals: 0 });
    expect(ledger.counts()).toEqual({ charges: 0, declines: 0, refunds: 0, refusals: 0 });
    expect(real.moneyOfNow(key.order)).toBeUndefined();
    expect(ledger.isOpen).toBe(false);
  });

  it('once open, sends everything to the real book: an order of the same key is a new one there', async () => {
    const real = new MemoryLedger();
    const scratch = new MemoryLedger();
    const ledger = new LedgerAfterWarmUp(real, scratch);
    const key = { order: orderKey('anonymous', 'warm-up-0'), run: 1 };
    await ledger.charge(key, 1200, false);
    ledger.open();
    expect(ledger.isOpen).toBe(true);
    expect(await ledger.moneyOf(key.order)).toBeUndefined();
    expect(await ledger.charge(key, 500, true)).toBe('declined');
    expect(await ledger.charge({ ...key, run: 2 }, 700, false)).toBe('charged');
    expect(ledger.counts()).toEqual({ charges: 1, declines: 1, refunds: 0, refusals: 0 });
    expect(await ledger.moneyOf(key.order)).toEqual({ charged: 700, refunded: 0 });
    expect(scratch.counts()).toEqual({ charges: 1, declines: 0, refunds: 0, refusals: 0 });
  });
});
