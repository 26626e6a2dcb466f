/**
 * GET /orders over the records in memory (src/orders/memory-order-list.ts):
 * newest first across many chunks of the done records' log, filtered, and
 * paged so that every order is listed exactly once while new ones arrive.
 */
import { describe, expect, it } from 'vitest';
import { orderKey, partsOfKey } from '../../src/domain/order.js';
import { MAX_SCANNED } from '../../src/orders/memory-order-list.js';
import { MemoryOrderRecords } from '../../src/orders/memory-order-records.js';
import type { OrderListQuery } from '../../src/orders/order-list.js';
import { listQuery } from '../support/order-list.js';
import type { OutcomeKind } from '../../src/orders/order-records.js';

async function place(records: MemoryOrderRecords, client: string, id: string, kind: OutcomeKind | 'running') {
  const key = orderKey(client, id);
  const begun = await records.begin(key, `fp-${id}`);
  if (begun.kind !== 'started') throw new Error(`${id}: ${begun.kind}`);
  if (kind !== 'running') await records.finish(key, begun.run, { kind, replay: undefined });
}

/** Every page of `over`, followed to the end; `between` runs after each page. */
async function everyPage(
  records: MemoryOrderRecords,
  over: Partial<OrderListQuery>,
  between: () => Promise<void> = async () => {},
): Promise<string[]> {
  const ids: string[] = [];
  let after: readonly number[] = [];
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await records.list(listQuery({ limit: 100, ...over, after }));
    ids.push(...page.orders.map((order) => partsOfKey(order.key).orderId));
    if (!page.next) return ids;
    after = page.next;
    await between();
  }
  throw new Error('never ended');
}

describe('the order list in memory', () => {
  it('lists the running first, then the done newest first, across chunks of the log, each once', async () => {
    const records = new MemoryOrderRecords(60_000, 64 << 20);
    // Some 3,000 done records: a few dozen bytes each, several 64 KiB chunks.
    for (let i = 0; i < 3000; i++)
      await place(records, i % 3 === 0 ? 'b' : 'a', `d${i}`, i % 7 === 0 ? 'payment_declined' : 'ok');
    await place(records, 'a', 'r0', 'running');
    await place(records, 'b', 'r1', 'running');
    const all = await everyPage(records, { limit: 97 });
    expect(all.slice(0, 4)).toEqual(['r1', 'r0', 'd2999', 'd2998']);
    expect(all).toHaveLength(3002);
    expect(new Set(all).size).toBe(3002);
    expect(all.at(-1)).toBe('d0');

    const failedOfB = await everyPage(records, { client: 'b', state: 'failed', limit: 10 });
    const expected = Array.from({ length: 3000 }, (_, i) => i)
      .filter((i) => i % 3 === 0 && i % 7 === 0)
      .reverse()
      .map((i) => `d${i}`);
    expect(failedOfB).toEqual(expected);
    expect(await everyPage(records, { state: 'running' })).toEqual(['r1', 'r0']);
    expect(await everyPage(records, { state: 'succeeded', client: 'a', limit: 3 })).toHaveLength(
      Array.from({ length: 3000 }, (_, i) => i).filter((i) => i % 3 !== 0 && i % 7 !== 0).length,
    );
  });

  it('pages every order exactly once while new orders arrive and end', async () => {
    const records = new MemoryOrderRecords(60_000, 64 << 20);
    for (let i = 0; i < 2000; i++) await place(records, 'a', `old${i}`, i % 5 === 0 ? 'timeout' : 'ok');
    let arrived = 0;
    const listed = await everyPage(records, { limit: 50 }, async () => {
      for (let i = 0; i < 20; i++) await place(records, 'a', `new${arrived++}`, i % 4 === 0 ? 'running' : 'ok');
    });
    const old = listed.filter((id) => id.startsWith('old'));
    expect(old).toHaveLength(2000);
    expect(new Set(listed).size).toBe(listed.length);
    expect(arrived).toBeGreaterThan(0);
  });

  it('bounds the records one page reads: a client with few orders among many gets short pages, then all of them', async () => {
    const records = new MemoryOrderRecords(60_000, 256 << 20);
    await place(records, 'rare', 'first', 'ok');
    for (let i = 0; i < MAX_SCANNED + 500; i++) await place(records, 'busy', `b${i}`, 'ok');
    await place(records, 'rare', 'last', 'ok');
    const first = await records.list(listQuery({ client: 'rare' }));
    expect(first.orders.map((order) => partsOfKey(order.key).orderId)).toEqual(['last']);
    expect(first.next).toBeDefined();
    expect(await everyPage(records, { client: 'rare' })).toEqual(['last', 'first']);
  });

  it('filters by time: since and until', async () => {
    let now = 1_000_000;
    const records = new MemoryOrderRecords(60_000, 64 << 20, { now: () => now });
    for (let i = 0; i < 10; i++) {
      now += 1000;
      await place(records, 'a', `t${i}`, 'ok');
    }
    expect(await everyPage(records, { since: 1_004_000, until: 1_007_000 })).toEqual(['t5', 't4', 't3']);
  });
});
