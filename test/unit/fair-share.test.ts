/**
 * The one rule of every per-client share (src/shares/fair-share.ts): floors by
 * weight among the active clients, a newcomer's kept while someone is idle; a
 * client within its floor always fits, beyond it only beside the others'
 * unused floors, never past its cap; the turn to the fewest per weight.
 */
import { describe, expect, it } from 'vitest';
import { fitsShare, floorOf, NO_SHARERS, turnOrder, unusedFloors } from '../../src/shares/fair-share.js';

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
});
