import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../src/events/memory-event-log.js';
import { EVENT_TYPES, type NewEvent } from '../../src/events/order-event.js';
import { mapWalksIn } from '../support/map-walks.js';

const eventOf = (n: number, client = 'acme'): NewEvent => ({
  type: EVENT_TYPES[0],
  client,
  orderId: `order-${n}`,
  run: n,
  kind: 'ok',
  money: { charged: 100, refunded: 0 },
});

describe('MemoryEventLog', () => {
  it('keeps the last EVENTS_MAX events: the oldest go first, from the feed and from a look-up by id', async () => {
    const log = new MemoryEventLog(3);
    const [first] = log.append([eventOf(1)]);
    log.append([eventOf(2, 'other'), eventOf(3)]);
    const [fourth] = log.append([eventOf(4)]);
    expect(log.size).toBe(3);
    expect(await log.get(first!.id)).toBeUndefined();
    expect(await log.get(fourth!.id)).toBe(fourth);
    expect((await log.page('acme', [], 10)).events.map((event) => event.orderId)).toEqual(['order-3', 'order-4']);
    expect((await log.page('other', [], 10)).events.map((event) => event.orderId)).toEqual(['order-2']);
  });

  it('past EVENTS_MAX an event goes from the client keeping the most per unit of its weight: a flood takes only its own', async () => {
    const log = new MemoryEventLog(10, new Map([['heavy', 3]]));
    for (let n = 1; n <= 3; n++) log.append([eventOf(n, 'quiet')]);
    for (let n = 4; n <= 40; n++) log.append([eventOf(n, 'flood')]);
    // Before: the oldest of anyone's went, and quiet's three were gone.
    expect((await log.page('quiet', [], 10)).events).toHaveLength(3);
    expect((await log.page('flood', [], 10)).events.map((event) => event.run)).toEqual([34, 35, 36, 37, 38, 39, 40]);
    // A heavier client keeps three times as much as a light one before either loses anything.
    for (let n = 41; n <= 60; n++) log.append([eventOf(n, 'heavy')]);
    expect((await log.page('heavy', [], 10)).events).toHaveLength(6);
    expect((await log.page('quiet', [], 10)).events).toHaveLength(2);
    expect((await log.page('flood', [], 10)).events).toHaveLength(2);
  });

  it('a page asked from behind what the client lost says there is a gap; from the start, or past it, it is a page', async () => {
    const log = new MemoryEventLog(3);
    const [first] = log.append([eventOf(1)]);
    for (let n = 2; n <= 6; n++) log.append([eventOf(n)]);
    expect(await log.page('acme', first!.position, 10)).toEqual({ events: [], gap: true });
    expect((await log.page('acme', [], 10)).events.map((event) => event.run)).toEqual([4, 5, 6]);
    expect((await log.page('acme', [3], 10)).events.map((event) => event.run)).toEqual([4, 5, 6]);
    expect((await log.page('other', [1], 10)).gap).toBeUndefined();
  });

  it('lets a dropped event go at once, not when the front it was dropped from is cut off in bulk', async () => {
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as () => void;
    const log = new MemoryEventLog(2000);
    // Made in a function of its own, so that nothing of this test's frame holds the event but the reference.
    const dropped = ((): WeakRef<object> => new WeakRef(log.append([eventOf(0)])[0]!))();
    // 500 dropped: under the 1,024 a front must pass to be cut off, so the array still has their slots.
    for (let n = 1; n <= 2500; n++) log.append([eventOf(n)]);
    expect(log.size).toBe(2000);
    // A WeakRef holds its target until the job that made or read it is over.
    await new Promise((resolve) => setImmediate(resolve));
    collect();
    expect(dropped.deref()).toBeUndefined();
  });

  it('drops its oldest without walking what it keeps: a walk crosses every event dropped since its table was rebuilt', async () => {
    const max = 5_000;
    const log = new MemoryEventLog(max);
    for (let n = 0; n < 2 * max; n++) log.append([eventOf(n)]);
    const walks = await mapWalksIn(max / 2, () => {
      for (let n = 2 * max; n < 2 * max + 500; n++) log.append([eventOf(n)]);
    });
    expect(log.size).toBe(max);
    // Taking a Map's oldest entry by its iterator made each append cost 7-29 us instead of 1.8 at 100,000 events.
    expect(walks).toBe(0);
  });
});
