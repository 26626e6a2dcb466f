/**
 * Each client's share of a late event loop (src/http/guards/client-load.ts), on a clock the test moves: while the
 * loop runs late, the client far beyond its share of the last second's requests is shed, and nobody else; a client
 * alone is never shed; a keyless flood is counted, never shed here, and makes no keyed client the heaviest.
 */
import { describe, expect, it } from 'vitest';
import { ClientLoad, LOOP_LATE_MS } from '../../src/http/guards/client-load.js';

/** A ClientLoad of `exist` clients on a clock at 0, late by what the returned `late` says. */
function loadOf(exist = 2, weights = new Map<string, number>()) {
  let now = 0;
  const late = { lateMs: 0, ownLateMs: 0 };
  const load = new ClientLoad(
    late,
    weights,
    () => exist,
    () => now,
  );
  return {
    load,
    /** Late by `ms` by the clock, `own` of it by the loop's own work (all of it unless said). */
    late: (ms: number, own = ms) => void Object.assign(late, { lateMs: ms, ownLateMs: own }),
    at: (ms: number) => void (now = ms),
    /** `count` requests of `caller`, spread over the window from the clock's time: how many were shed. */
    send: (caller: string | undefined, count: number) => {
      let shed = 0;
      for (let i = 0; i < count; i++) if (load.arrived(caller)) shed++;
      return shed;
    },
  };
}

describe("a client's share of a late event loop", () => {
  it('sheds nothing while the loop is on time, however one client sends', () => {
    const { send, load } = loadOf();
    send('victim', 1);
    expect(send('flood', 10_000)).toBe(0);
    expect(load.flooding).toBe(false);
  });

  it("sheds, once the loop runs late, the client far beyond its share, not another client's requests", () => {
    const { send, late, load } = loadOf();
    send('victim', 5);
    send('flood', 1000);
    late(LOOP_LATE_MS);
    expect(send('flood', 100)).toBe(100);
    expect(send('victim', 5)).toBe(0);
    expect(load.flooding).toBe(true);
  });

  it('keeps a newcomer its floor: a flood alone is shed while another client exists that has not been read yet', () => {
    const alone = loadOf(2);
    alone.send('flood', 1000);
    alone.late(100);
    expect(alone.send('flood', 10)).toBe(10);
    // The only client there is: nobody else's orders wait behind its requests.
    const only = loadOf(1);
    only.send('flood', 1000);
    only.late(100);
    expect(only.send('flood', 10)).toBe(0);
  });

  it("sheds a client sending alone only while the loop is late by its own work, not waiting for a core: two clients' floods by the clock", () => {
    // A busy machine: the loop 100 ms late by the clock, 2 ms by its own work.
    const alone = loadOf(2);
    alone.send('only', 1000);
    alone.late(100, 2);
    expect(alone.send('only', 10)).toBe(0);
    alone.late(100, 100);
    expect(alone.send('only', 10)).toBe(10);
    // Two clients sending: the heavier is shed by the clock's lateness, as its victim is there to gain by it.
    const two = loadOf(2);
    two.send('victim', 10);
    two.send('flood', 1000);
    two.late(100, 2);
    expect(two.send('flood', 10)).toBe(10);
    expect(two.send('victim', 1)).toBe(0);
  });

  it('leaves clients of about the same load alone: half as much again as its share before one is shed', () => {
    const { send, late } = loadOf(3);
    send('a', 600);
    send('b', 400);
    late(100);
    // a holds 60% against a floor of a third (its share among two and a newcomer): 1.5 × 33% = 50%, so a is shed.
    expect(send('a', 10)).toBe(10);
    const even = loadOf(2);
    even.send('a', 500);
    even.send('b', 500);
    even.late(100);
    expect(even.send('a', 10) + even.send('b', 10)).toBe(0);
  });

  it('counts a keyless flood as a client of its own and never sheds it here: the keyed client beside it is within its share', () => {
    const { send, late } = loadOf();
    send(undefined, 10_000);
    send('victim', 5);
    late(200);
    expect(send(undefined, 100)).toBe(0);
    expect(send('victim', 5)).toBe(0);
  });

  it('forgets what was sent two windows ago: a client that stopped is not shed for its past', () => {
    const { send, late, at } = loadOf();
    send('victim', 5);
    send('flood', 1000);
    at(2500);
    late(100);
    send('victim', 5);
    expect(send('flood', 3)).toBe(0);
  });

  it('weighs each client by its weight: a client of weight 4 is shed only past four times its share of one', () => {
    const { send, late } = loadOf(2, new Map([['heavy', 4]]));
    send('heavy', 700);
    send('light', 300);
    late(100);
    // heavy's floor: 4/5 of the last second's requests; 70% is within it.
    expect(send('heavy', 10)).toBe(0);
  });

  it("counts a client's requests refused over its budget as a flood for three seconds: its waves make the loop late while none is shed", () => {
    const { load, at } = loadOf();
    expect(load.flooding).toBe(false);
    load.refusedOverBudget();
    at(2999);
    expect(load.flooding).toBe(true);
    at(3000);
    expect(load.flooding).toBe(false);
  });

  it('never sheds a client whose requests are too few to make the loop late, however much of them it sent', () => {
    const { send, late } = loadOf(4);
    // Three clients whose orders wait long (a few requests each), and one sending 10 cheap orders a second.
    for (const busy of ['a', 'b', 'c']) send(busy, 3);
    send('victim', 50);
    // A busy machine's lateness by the clock.
    late(100, 5);
    expect(send('victim', 10)).toBe(0);
    // A flood of the same share is shed.
    expect(send('victim', 200)).toBeGreaterThan(0);
  });
});
