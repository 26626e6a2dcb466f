import { describe, expect, it } from 'vitest';
import { MemoryOrderRecords } from '../../src/orders/memory-order-records.js';
import type { RecordedOutcome } from '../../src/orders/order-records.js';

const outcome = (orderId: string): RecordedOutcome => ({ kind: 'ok', replay: { orderId, steps: [], compensations: [], failure: undefined } });

/** Runs `orderId` once to a final outcome. */
async function runOnce(records: MemoryOrderRecords, orderId: string): Promise<void> {
  const begun = await records.begin(orderId, `fp-${orderId}`);
  if (begun.kind !== 'started') throw new Error(`expected a new run of ${orderId}, got ${begun.kind}`);
  await records.finish(orderId, begun.run, outcome(orderId));
}

describe('MemoryOrderRecords', () => {
  it('numbers runs, replays a final outcome, and refuses the id for another order', async () => {
    const records = new MemoryOrderRecords(60_000, 1 << 20);
    expect(await records.begin('a', 'fp-a')).toEqual({ kind: 'started', run: 1 });
    expect(await records.get('a')).toMatchObject({ state: 'running', runs: 1, outcome: undefined });
    await records.finish('a', 1, { kind: 'timeout', replay: undefined });
    expect(await records.get('a')).toMatchObject({ state: 'done', runs: 1, outcome: { kind: 'timeout' } });
    expect(await records.begin('a', 'fp-a')).toEqual({ kind: 'started', run: 2 });
    await records.finish('a', 2, outcome('a'));
    expect(await records.begin('a', 'fp-a')).toEqual({ kind: 'replay', result: outcome('a').replay });
    expect(await records.begin('a', 'fp-other')).toEqual({ kind: 'reused' });
  });

  it('keeps a done record for its time to live, then forgets it and says so', async () => {
    let now = 1_000;
    const forgotten: string[] = [];
    const records = new MemoryOrderRecords(
      500,
      1 << 20,
      (id) => forgotten.push(id),
      () => now,
    );
    await runOnce(records, 'a');
    now += 499;
    expect(await records.get('a')).toBeDefined();
    now += 1;
    expect(await records.get('a')).toBeUndefined();
    expect(records.size()).toBe(0);
    expect(forgotten).toEqual(['a']);
  });

  it('stays within its memory bound under a stream of distinct ids, the oldest going first', async () => {
    const records = new MemoryOrderRecords(60_000, 200_000);
    for (let i = 0; i < 10_000; i++) {
      await runOnce(records, `o${i}`);
      expect(records.estimatedBytes()).toBeLessThanOrEqual(200_000);
    }
    const kept = records.size();
    expect(kept).toBeGreaterThan(50);
    expect(await records.get(`o${9999 - kept}`)).toBeUndefined();
    expect(await records.get(`o${10_000 - kept}`)).toBeDefined();
    expect(await records.get('o9999')).toBeDefined();
  });

  it('never evicts an order that is running', async () => {
    const records = new MemoryOrderRecords(60_000, 10_000);
    await records.begin('long', 'fp-long');
    for (let i = 0; i < 100; i++) await runOnce(records, `o${i}`);
    expect(await records.get('long')).toMatchObject({ state: 'running' });
  });

  it('drops expired records as new ones come, before evicting live ones', async () => {
    let now = 0;
    const records = new MemoryOrderRecords(
      100,
      1 << 20,
      () => {},
      () => now,
    );
    await runOnce(records, 'old-1');
    await runOnce(records, 'old-2');
    now = 150;
    await runOnce(records, 'new');
    expect(records.size()).toBe(1);
  });

  it('keeps nothing once done with a bound or a time to live of 0', async () => {
    for (const records of [new MemoryOrderRecords(0, 1 << 20), new MemoryOrderRecords(1000, 0)]) {
      await runOnce(records, 'a');
      expect(await records.get('a')).toBeUndefined();
    }
  });
});
