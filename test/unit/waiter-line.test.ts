import { fc, test as propertyTest } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { agedRank, RANKS, TIER_AGING_MS, tieredTurnOrder } from '../../src/fairness/tiers.js';
import { WaiterLine, type TurnRules } from '../../src/shared-memory/waiter-line.js';

const CRITICAL = 0;
const STANDARD = 1;
const FREE = 2;

/** Rules with per-client weights and a cap on what each may hold (none by default). */
function rules(weights: Record<number, number> = {}, caps: Record<number, number> = {}): TurnRules {
  return {
    mayTakeOne: (client, counts) => (counts.held[client] ?? 0) < (caps[client] ?? Infinity),
    rankMayTake: () => true,
    weightOf: (client) => weights[client] ?? 1,
  };
}

function lineOf(turnRules: TurnRules, slots = 100): WaiterLine {
  const line = new WaiterLine(turnRules, 8, 64);
  line.counts.lent = slots;
  return line;
}

/** Entries in the order the line serves them, each taken as it comes. */
function turns(line: WaiterLine): number[] {
  const served: number[] = [];
  for (let entry = line.next(); entry >= 0; entry = line.next()) {
    served.push(entry);
    line.taken(false);
  }
  return served;
}

describe('WaiterLine', () => {
  it('serves one client oldest ticket first, whatever the entries, across the wrap of 32-bit tickets', () => {
    const line = lineOf(rules());
    const tickets = [0x7fff_fffe, -0x7fff_ffff, 0x7fff_ffff, -0x8000_0000, 0x7fff_fffd];
    tickets.forEach((ticket, entry) => line.add(entry, ticket, 0, STANDARD, 0));
    line.ready();
    // Up to the largest int32, then on from the smallest: the ticket counter wrapped between entries 2 and 3.
    expect(turns(line)).toEqual([4, 0, 2, 3, 1]);
  });

  it("serves the better rank before an older waiter's of a worse one, and a worse one once it has aged", () => {
    const line = lineOf(rules());
    line.add(0, 1, 0, FREE, 0);
    line.add(1, 2, 0, STANDARD, 0);
    line.add(2, 3, 0, CRITICAL, 0);
    line.add(3, 4, 1, FREE, 2 * TIER_AGING_MS);
    line.ready();
    // Entry 3, free, has aged to critical: after entry 2 (as good, and older), before client 0's standard and free
    // entries (as good once the best waiting is standard, and its client holds fewer slots).
    expect(turns(line)).toEqual([2, 3, 1, 0]);
  });

  it('gives clients turns by the slots they hold per unit of weight, as each grant is counted', () => {
    const line = lineOf(rules({ 0: 2, 1: 1 }));
    for (let i = 0; i < 6; i++) line.add(i, i, 0, STANDARD, 0);
    for (let i = 6; i < 12; i++) line.add(i, i, 1, STANDARD, 0);
    line.ready();
    const clients = turns(line)
      .slice(0, 6)
      .map((entry) => (entry < 6 ? 'heavy' : 'light'));
    // Weight 2 against 1: two turns for one, ties to the older ticket.
    expect(clients).toEqual(['heavy', 'light', 'heavy', 'heavy', 'light', 'heavy']);
  });

  it('passes over a client the rules refuse, and has nobody next once every slot is counted', () => {
    const line = lineOf(rules({}, { 0: 1 }), 3);
    line.add(0, 0, 0, CRITICAL, 0);
    line.add(1, 1, 0, CRITICAL, 0);
    line.add(2, 2, 1, FREE, 0);
    line.add(3, 3, 1, FREE, 0);
    line.ready();
    // Client 0 holds its one, then client 1 takes the others; a gone waiter is passed over without a slot.
    expect(line.next()).toBe(0);
    line.taken(false);
    expect(line.next()).toBe(2);
    line.gone();
    expect(line.next()).toBe(3);
    line.taken(false);
    expect(line.next()).toBe(-1);
    expect(line.counts).toMatchObject({ busy: 2, mostHeld: 1 });
    // A slot freed by the holder of the read is counted free again: client 0 is still at its cap.
    line.freed(1, false);
    expect(line.counts.busy).toBe(1);
    expect(line.next()).toBe(-1);
  });

  it('refuses a waiter past its capacity rather than drop it', () => {
    const line = new WaiterLine(rules(), 8, 1);
    line.add(0, 0, 0, STANDARD, 0);
    expect(() => line.add(1, 1, 0, STANDARD, 0)).toThrow(RangeError);
  });

  it("counts a slot taken for nobody (lent elsewhere) as a slot lent no more, not as anyone's", () => {
    const line = lineOf(rules(), 2);
    line.add(0, 0, 300, STANDARD, 0);
    line.ready();
    expect(line.next()).toBe(0);
    line.taken(true);
    expect(line.counts).toMatchObject({ lent: 1, busy: 0, mostHeld: 0 });
  });

  const waiter = fc.record({
    client: fc.integer({ min: 0, max: 3 }),
    rank: fc.integer({ min: 0, max: RANKS - 1 }),
    waitedMs: fc.integer({ min: 0, max: 3 * TIER_AGING_MS }),
  });

  propertyTest.prop([
    fc.array(waiter, { maxLength: 60 }),
    fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 4, maxLength: 4 }),
    fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 4, maxLength: 4 }),
    fc.integer({ min: 0, max: 0x7fff_ffff }),
  ])(
    'gives turns in the order the rule gives them, looked at afresh before every turn',
    (waiters, weights, caps, first) => {
      const line = lineOf(rules({ ...weights }, { ...caps }), 40);
      // Entries in a scrambled order; tickets in arrival order, from anywhere in 32 bits.
      const arrivals = waiters.map((each, i) => ({ ...each, entry: (i * 7) % 61, ticket: (first + i) | 0 }));
      for (const each of arrivals) line.add(each.entry, each.ticket, each.client, each.rank, each.waitedMs);
      line.ready();
      // The rule by brute force: every waiter against every other, the slots held counted as turns are given.
      const held = [0, 0, 0, 0];
      const left = [...arrivals];
      const expected: number[] = [];
      while (expected.length < 40) {
        const eligible = left.filter((each) => held[each.client]! < caps[each.client]!);
        if (eligible.length === 0) break;
        const best = Math.min(...eligible.map((each) => each.rank));
        const rankOf = (each: (typeof left)[number]): number => agedRank(each.rank, each.waitedMs, best);
        let chosen = eligible[0]!;
        for (const each of eligible.slice(1)) {
          const order = tieredTurnOrder(
            rankOf(each),
            held[each.client]!,
            weights[each.client]!,
            rankOf(chosen),
            held[chosen.client]!,
            weights[chosen.client]!,
          );
          if (order < 0 || (order === 0 && ((each.ticket - chosen.ticket) | 0) < 0)) chosen = each;
        }
        expected.push(chosen.entry);
        held[chosen.client]!++;
        left.splice(left.indexOf(chosen), 1);
      }
      expect(turns(line)).toEqual(expected);
    },
  );
});
