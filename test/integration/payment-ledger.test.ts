/**
 * The payment provider's books, as a contract: the same table of cases for
 * every implementation of PaymentLedger — in memory, and in Postgres (a
 * throwaway server for the file, a fresh database for each case).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryLedger } from '../../src/ledger/memory-ledger.js';
import type { PaymentLedger } from '../../src/ledger/payment-ledger.js';
import { useDurableStores } from '../support/durable-stores.js';
import { POSTGRES_SKIPPED, POSTGRES_UNAVAILABLE } from '../support/postgres.js';
import { orderKey, type OrderKey } from '../../src/domain/order.js';

/** An order of the tests' one client. */
const k = (orderId: string): OrderKey => orderKey('test', orderId);

const stores = useDurableStores();

const IMPLEMENTATIONS: ReadonlyArray<[string, () => Promise<PaymentLedger>]> = [
  ['in memory', async () => new MemoryLedger()],
  ['in Postgres', async () => (await stores.open(1))[0]!.ledger],
];

describe.each(IMPLEMENTATIONS)('PaymentLedger %s', (name, create) => {
  beforeEach((test) => {
    if (name === 'in Postgres' && POSTGRES_UNAVAILABLE !== undefined) test.skip(POSTGRES_SKIPPED);
  });
  const run1 = { order: k('o'), run: 1 };
  const run2 = { order: k('o'), run: 2 };

  it('charges once per run, however often asked, and a new run is a new charge', async () => {
    const ledger = await create();
    expect(await ledger.charge(run1, 500, false)).toBe('charged');
    expect(await ledger.charge(run1, 500, false)).toBe('charged');
    expect(await ledger.charge(run2, 500, false)).toBe('charged');
    expect(await ledger.moneyOf(k('o'))).toEqual({ charged: 1000, refunded: 0 });
    expect(await ledger.moneyOfRun(run1)).toEqual({ charged: 500, refunded: 0 });
    expect(ledger.counts()).toMatchObject({ charges: 2 });
  });

  it('declines the test card, once and for good: nothing taken', async () => {
    const ledger = await create();
    expect(await ledger.charge(run1, 500, true)).toBe('declined');
    expect(await ledger.charge(run1, 500, false)).toBe('declined');
    expect(await ledger.moneyOf(k('o'))).toEqual({ charged: 0, refunded: 0 });
    expect(ledger.counts()).toMatchObject({ charges: 0, declines: 1 });
  });

  it("voids a run: gives back what it charged, once, and only that run's", async () => {
    const ledger = await create();
    await ledger.charge(run1, 500, false);
    await ledger.charge(run2, 500, false);
    expect(await ledger.void(run1, false)).toBe('refunded');
    expect(await ledger.void(run1, false)).toBe('nothing_to_refund');
    expect(await ledger.moneyOf(k('o'))).toEqual({ charged: 1000, refunded: 500 });
    expect(ledger.counts()).toMatchObject({ refunds: 1 });
  });

  it('refuses a charge that arrives after its run was voided', async () => {
    const ledger = await create();
    expect(await ledger.void(run1, false)).toBe('nothing_to_refund');
    expect(await ledger.charge(run1, 500, false)).toBe('voided');
    expect(await ledger.moneyOfRun(run1)).toEqual({ charged: 0, refunded: 0 });
  });

  it('with the test switch, refuses to give money back — and still refuses a charge that comes late', async () => {
    const ledger = await create();
    await ledger.charge(run1, 500, false);
    expect(await ledger.void(run1, true)).toBe('refused');
    expect(await ledger.moneyOfRun(run1)).toEqual({ charged: 500, refunded: 0 });
    expect(await ledger.void(run2, true)).toBe('nothing_to_refund');
    expect(await ledger.charge(run2, 500, false)).toBe('voided');
    expect(ledger.counts()).toMatchObject({ refusals: 1 });
  });

  it('has no record of an order it never saw', async () => {
    const ledger = await create();
    expect(await ledger.moneyOf(k('never'))).toBeUndefined();
    expect(await ledger.moneyOfRun({ order: k('never'), run: 1 })).toEqual({ charged: 0, refunded: 0 });
  });
});
