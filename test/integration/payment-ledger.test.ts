/**
 * The payment provider's books, as a contract: the same table of cases for
 * every implementation of PaymentLedger — in memory, and in Postgres (a
 * throwaway server for the file, a fresh database for each case). And the
 * books of the services the other steps act on (ServiceBooks), likewise.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryLedger } from '../../src/ledger/memory-ledger.js';
import type { PaymentLedger } from '../../src/ledger/payment-ledger.js';
import { MemoryServiceBooks } from '../../src/ledger/memory-service-books.js';
import type { ServiceBooks } from '../../src/ledger/service-books.js';
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

const SERVICE_BOOKS: ReadonlyArray<[string, () => Promise<ServiceBooks>]> = [
  ['in memory', async () => new MemoryServiceBooks()],
  ['in Postgres', async () => (await stores.open(1))[0]!.services],
];

describe.each(SERVICE_BOOKS)('ServiceBooks %s', (name, create) => {
  beforeEach((test) => {
    if (name === 'in Postgres' && POSTGRES_UNAVAILABLE !== undefined) test.skip(POSTGRES_SKIPPED);
  });
  const vendor = { order: k('o'), run: 1, step: 'vendor' };
  const A = '00000000-0000-4000-8000-00000000000a';
  const B = '00000000-0000-4000-8000-00000000000b';

  it('applies a step’s effect once per run, counts every request after it a duplicate, and a new run or step is a new key', async () => {
    const books = await create();
    expect(await books.request(vendor, { fence: 0, instance: A })).toBe('applied');
    expect(await books.request(vendor, { fence: 0, instance: A })).toBe('duplicate');
    expect(await books.request({ ...vendor, run: 2 }, { fence: 0, instance: A })).toBe('applied');
    expect(await books.request({ ...vendor, step: 'courier' }, { fence: 0, instance: A })).toBe('applied');
    expect(await books.request({ ...vendor, order: k('p') }, { fence: 0, instance: A })).toBe('applied');
    expect(books.counts()).toEqual({ applied: 4, duplicate: 1, stale: 0 });
  });

  it('refuses a request under an older claim than one it has seen — the paused instance’s late one — and applies an older claim’s that comes first', async () => {
    const books = await create();
    // The survivor's, after a takeover raised the fence, then the paused instance's late one.
    expect(await books.request(vendor, { fence: 1, instance: B })).toBe('applied');
    expect(await books.request(vendor, { fence: 0, instance: A })).toBe('stale');
    // The other way round: the older claim's came first, and the newer one finds it done.
    const courier = { ...vendor, step: 'courier' };
    expect(await books.request(courier, { fence: 0, instance: A })).toBe('applied');
    expect(await books.request(courier, { fence: 1, instance: B })).toBe('duplicate');
    expect(await books.request(courier, { fence: 0, instance: A })).toBe('stale');
    expect(books.counts()).toEqual({ applied: 2, duplicate: 1, stale: 2 });
    const received = await books.receivedFor(k('o'));
    expect(received.map(({ step, fence, instance, answer }) => ({ step, fence, instance, answer }))).toEqual([
      { step: 'vendor', fence: 1, instance: B, answer: 'applied' },
      { step: 'vendor', fence: 0, instance: A, answer: 'stale' },
      { step: 'courier', fence: 0, instance: A, answer: 'applied' },
      { step: 'courier', fence: 1, instance: B, answer: 'duplicate' },
      { step: 'courier', fence: 0, instance: A, answer: 'stale' },
    ]);
  });

  it('decides requests under one key sent at once one at a time: one of them applied', async () => {
    const books = await create();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => books.request(vendor, { fence: 0, instance: i % 2 ? A : B })),
    );
    expect(answers.filter((answer) => answer === 'applied')).toHaveLength(1);
    expect(answers.filter((answer) => answer === 'duplicate')).toHaveLength(19);
  });

  it('has received nothing for an order it never saw', async () => {
    const books = await create();
    expect(await books.receivedFor(k('never'))).toEqual([]);
  });
});
