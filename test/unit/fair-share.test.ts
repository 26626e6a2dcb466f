/**
 * The one rule of every per-client share (src/fairness/fair-share.ts): floors by
 * weight among the active clients, a newcomer's kept while someone is idle; a
 * client within its floor always fits, beyond it only beside the others'
 * unused floors, never past its cap; the turn to the fewest per weight.
 */
import { describe, expect, it } from 'vitest';
import { ActiveClients } from '../../src/fairness/active-clients.js';
import {
  capOf,
  firstInTurn,
  fitsShare,
  floorOf,
  mayTakeOne,
  NEWCOMER_WEIGHT,
  NO_SHARERS,
  roomOf,
  turnOrder,
  unusedFloors,
  type Holdings,
} from '../../src/fairness/fair-share.js';

describe('fair shares', () => {
  it('give each active client ⌊capacity × weight / the weights⌋, and nothing with nobody active', () => {
    expect(floorOf(20, 1, 4)).toBe(5);
    expect(floorOf(5, 2, 3)).toBe(3);
    expect(floorOf(2, 1, 4)).toBe(0);
    expect(floorOf(5, 1, 0)).toBe(0);
    expect(unusedFloors(5, NO_SHARERS, () => 0)).toBe(0);
  });

  it("count the others' unused floors, a newcomer's included, never one's own", () => {
    const sharers = {
      active: new Map([
        ['a', 1],
        ['b', 1],
      ]),
      newcomer: 1,
      totalWeight: 3,
    };
    const held = new Map([
      ['a', 5],
      ['b', 1],
    ]);
    // Floors of 2 each of 6: b leaves 1 unused, the newcomer 2, a's own is not counted.
    expect(unusedFloors(6, sharers, (client) => held.get(client) ?? 0, 'a')).toBe(3);
    expect(unusedFloors(6, sharers, (client) => held.get(client) ?? 0, 'b')).toBe(2);
  });

  it('let a client within its floor take whatever is free, beyond it only what the others do not keep, never past its cap', () => {
    expect(fitsShare({ held: 2, floor: 2, cap: 3 }, { capacity: 5, busy: 5, keptForOthers: 3 })).toBe(true);
    expect(fitsShare({ held: 3, floor: 2, cap: 3 }, { capacity: 5, busy: 4, keptForOthers: 2 })).toBe(false);
    expect(fitsShare({ held: 3, floor: 2, cap: 3 }, { capacity: 5, busy: 3, keptForOthers: 2 })).toBe(true);
    expect(fitsShare({ held: 4, floor: 4, cap: 3 }, { capacity: 5, busy: 4, keptForOthers: 0 })).toBe(false);
  });

  it('give the turn to the client holding the fewest per unit of weight', () => {
    expect(turnOrder(1, 1, 2, 1)).toBeLessThan(0);
    expect(turnOrder(2, 2, 1, 1)).toBe(0);
    expect(turnOrder(3, 2, 1, 1)).toBeGreaterThan(0);
  });

  it("read a keeper's counts the same way, one unit at a time or all told", () => {
    const held = new Map([
      ['a', 4],
      ['b', 0],
    ]);
    const holdings: Holdings = { capacity: 10, busy: 4, heldOf: (client) => held.get(client) ?? 0 };
    const sharers = {
      active: new Map([
        ['a', 1],
        ['b', 1],
      ]),
      newcomer: 0,
      totalWeight: 2,
    };
    // b's floor of 5 is kept: a may hold 5 (its own floor, and the one free unit beside b's), never a sixth.
    expect(roomOf('a', holdings, sharers)).toBe(5);
    expect(mayTakeOne('a', holdings, sharers)).toBe(true);
    held.set('a', 5);
    expect(mayTakeOne('a', { ...holdings, busy: 5 }, sharers)).toBe(false);
    expect(mayTakeOne('b', { ...holdings, busy: 5 }, sharers)).toBe(true);
    expect(mayTakeOne('b', { ...holdings, busy: 5 }, sharers, 0)).toBe(false);
  });

  it('cap a client at ⌈capacity × share⌉, never at all of it while there is more than one', () => {
    expect(capOf(20, 0.6)).toBe(12);
    expect(capOf(5, 0.6)).toBe(3);
    expect(capOf(2, 0.6)).toBe(1);
    expect(capOf(1, 0.6)).toBe(1);
    expect(capOf(10, 0.3)).toBe(3);
  });

  it('pick the first in turn among waiting clients, the first named on a tie', () => {
    const held = new Map([
      ['a', 2],
      ['b', 1],
      ['c', 1],
    ]);
    expect(
      firstInTurn(
        ['a', 'b', 'c'],
        (client) => held.get(client) ?? 0,
        () => 1,
      ),
    ).toBe('b');
    expect(
      firstInTurn(
        ['a', 'b'],
        (client) => held.get(client) ?? 0,
        (client) => (client === 'a' ? 4 : 1),
      ),
    ).toBe('a');
  });
});

describe('who is active', () => {
  it('is whoever asked within the window or holds something, a newcomer as the keeper says', () => {
    let now = 0;
    const activity = new ActiveClients(1000, () => now);
    const holding = new Set<string>();
    const clients = {
      heldOf: (client: string) => (holding.has(client) ? 1 : 0),
      weightOf: (client: string) => (client === 'heavy' ? 3 : 1),
      newcomer: () => NEWCOMER_WEIGHT,
    };
    activity.asked('heavy');
    activity.asked('light');
    expect(activity.sharers(clients)).toEqual({
      active: new Map([
        ['heavy', 3],
        ['light', 1],
      ]),
      newcomer: 1,
      totalWeight: 5,
    });
    holding.add('light');
    now = 1001;
    expect([...activity.sharers(clients).active.keys()]).toEqual(['light']);
  });
});
