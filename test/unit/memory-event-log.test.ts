import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../src/events/memory-event-log.js';
import { EVENT_TYPES, type NewEvent } from '../../src/events/order-event.js';

const eventOf = (n: number, client = 'acme'): NewEvent => ({
  type: EVENT_TYPES[0],
  client,
  orderId: `order-${n}`,
  run: n,
  kind: 'ok',
  money: { charged: 100, refunded: 0 },
});

/** Microseconds per append of `count` events, one append each. */
function appendCost(log: MemoryEventLog, count: number, from: number): number {
  const started = performance.now();
  for (let n = from; n < from + count; n++) log.append([eventOf(n)]);
  return ((performance.now() - started) * 1000) / count;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('MemoryEventLog', () => {
  it('keeps the last EVENTS_MAX events: the oldest go first, from the feed and from a look-up by id', async () => {
    const log = new MemoryEventLog(3);
    const [first] = log.append([eventOf(1)]);
    log.append([eventOf(2, 'other'), eventOf(3)]);
    const [fourth] = log.append([eventOf(4)]);
    expect(log.size).toBe(3);
    expect(await log.get(first!.id)).toBeUndefined();
    expect(await log.get(fourth!.id)).toBe(fourth);
    expect((await log.page('acme', [], 10)).map((event) => event.orderId)).toEqual(['order-3', 'order-4']);
    expect((await log.page('other', [], 10)).map((event) => event.orderId)).toEqual(['order-2']);
  });

  it('costs an append as much once it is full as while it fills (it once walked every entry dropped before)', () => {
    const max = 100_000; // EVENTS_MAX's default
    const log = new MemoryEventLog(max);
    const chunk = 20_000;
    // Warmed up, then measured in chunks; the median of five on each side.
    appendCost(log, chunk, 0);
    const filling = [1, 2, 3, 4].map((i) => appendCost(log, chunk, i * chunk));
    filling.push(appendCost(log, chunk, 5 * chunk));
    expect(log.size).toBe(max);
    const full = [6, 7, 8, 9, 10].map((i) => appendCost(log, chunk, i * chunk));
    expect(log.size).toBe(max);
    // Measured: 0.3-2.7 us an append either way; taking the oldest from a Map by its iterator made it 3-8x once full.
    expect(median(full)).toBeLessThan(2 * median(filling));
  });
});
