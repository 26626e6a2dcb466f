import { describe, expect, it } from 'vitest';
import { MemoryIdempotencyStore } from '../../src/idempotency/memory-store.js';
import type { RecordedOrder } from '../../src/idempotency/idempotency-store.js';

const record = (orderId: string): RecordedOrder => ({ fingerprint: `fp-${orderId}`, result: { orderId, steps: [], compensations: [], failure: undefined } });

describe('MemoryIdempotencyStore', () => {
  it('keeps a record for its time to live, then forgets it', async () => {
    let now = 1_000;
    const store = new MemoryIdempotencyStore(500, 10, () => now);
    await store.put('a', record('a'));
    now += 499;
    expect(await store.get('a')).toEqual(record('a'));
    now += 1;
    expect(await store.get('a')).toBeUndefined();
    expect(store.size()).toBe(0);
  });

  it('never holds more than its bound, under a stream of distinct ids, and lets the oldest go first', async () => {
    const store = new MemoryIdempotencyStore(60_000, 100);
    for (let i = 0; i < 10_000; i++) {
      await store.put(`o${i}`, record(`o${i}`));
      expect(store.size()).toBeLessThanOrEqual(100);
    }
    expect(store.size()).toBe(100);
    expect(await store.get('o9899')).toBeUndefined();
    expect(await store.get('o9900')).toBeDefined();
    expect(await store.get('o9999')).toBeDefined();
  });

  it('drops expired records as new ones come, before evicting live ones', async () => {
    let now = 0;
    const store = new MemoryIdempotencyStore(100, 3, () => now);
    await store.put('old-1', record('old-1'));
    await store.put('old-2', record('old-2'));
    now = 150;
    await store.put('new', record('new'));
    expect(store.size()).toBe(1);
  });

  it('keeps nothing with a bound or a time to live of 0', async () => {
    for (const store of [new MemoryIdempotencyStore(0, 10), new MemoryIdempotencyStore(1000, 0)]) {
      await store.put('a', record('a'));
      expect(await store.get('a')).toBeUndefined();
    }
  });
});
