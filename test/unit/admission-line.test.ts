/**
 * The admission line (src/fairness/admission-line.ts): an order refused for want of room waits there while tiers are
 * in play, ages, and is told to try again when its turn comes — the better aged rank, the client holding less, the
 * oldest; its place is kept by its client's floor of the places; it waits no longer than it may.
 */
import { describe, expect, it } from 'vitest';
import { rankOf } from '../../src/domain/tier.js';
import { AdmissionLine, type LineWaiter, type WaitEnd } from '../../src/fairness/admission-line.js';
import type { Sharers } from '../../src/fairness/fair-share.js';
import { TIER_AGING_MS } from '../../src/fairness/tiers.js';

const CRITICAL = rankOf('critical');
const FREE = rankOf('free');

function line({ tiered = true, places = 10, maxWaitMs = 60_000, held = new Map<string, number>() } = {}) {
  let now = 0;
  const sharers: Sharers = {
    active: new Map([
      ['vip', 1],
      ['thrift', 1],
    ]),
    newcomer: 0,
    totalWeight: 2,
  };
  const admission = new AdmissionLine({
    places,
    maxWaitMs,
    sharers: () => sharers,
    heldOf: (client) => held.get(client) ?? 0,
    weightOf: () => 1,
    bestRank: () => CRITICAL,
    tiered: () => tiered,
    now: () => now,
  });
  const ends: string[] = [];
  const wait = (client: string, rank: number, mayStart: (waitedMs: number) => boolean = () => true) => {
    const waiter: LineWaiter = { client, rank, since: now, mayStart, withinFloor: () => false };
    const waiting = admission.join(waiter);
    void waiting?.then((end: WaitEnd) => ends.push(`${client}:${end}`));
    return { waiter, waiting };
  };
  return { admission, ends, wait, advance: (ms: number) => (now += ms) };
}

const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('the admission line', () => {
  it('is closed without tiers to every order beyond its floor, and open to one within it', () => {
    const { admission } = line({ tiered: false });
    expect(line({ tiered: false }).wait('vip', CRITICAL).waiting).toBeUndefined();
    const withinFloor: LineWaiter = {
      client: 'thrift',
      rank: FREE,
      since: 0,
      mayStart: () => true,
      withinFloor: () => true,
    };
    expect(admission.join(withinFloor)).toBeDefined();
  });

  it('gives the turn to the better rank first, then to a free waiter once it has aged level and holds less', async () => {
    const { admission, ends, wait, advance } = line({ held: new Map([['vip', 20]]) });
    wait('thrift', FREE);
    wait('vip', CRITICAL);
    admission.roomFreed();
    await settled();
    expect(ends).toEqual(['vip:try_again']);
    wait('vip', CRITICAL);
    advance(2 * TIER_AGING_MS);
    wait('vip', CRITICAL);
    admission.roomFreed();
    await settled();
    // Aged to critical, thrift holds nothing against vip's 20: its turn, before both of vip's.
    expect(ends).toEqual(['vip:try_again', 'thrift:try_again']);
  });

  it('passes over a waiter that may not start now, to the next in turn', async () => {
    const { admission, ends, wait } = line();
    wait('vip', CRITICAL, () => false);
    wait('thrift', FREE);
    admission.roomFreed();
    await settled();
    expect(ends).toEqual(['thrift:try_again']);
  });

  it("keeps each active client's floor of the places: a flood fills its own, not the other's", () => {
    const { wait } = line({ places: 4 });
    expect([1, 2, 3].map(() => wait('vip', CRITICAL).waiting !== undefined)).toEqual([true, true, false]);
    expect(wait('thrift', FREE).waiting).toBeDefined();
  });

  it('tells a waiter that left to try again (it finds itself gone), and one that waited all it may that it waited', async () => {
    const { admission, ends, wait } = line({ maxWaitMs: 30 });
    const { waiter } = wait('vip', CRITICAL);
    admission.leave(waiter);
    wait('thrift', FREE);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(ends).toEqual(['vip:try_again', 'thrift:waited']);
    expect(admission.length).toBe(0);
  });
});
