/**
 * Turns of thread time for computing steps, shared between clients on the
 * main thread: none needed alone; a cap per client and in all once several
 * share; the freed turn to the client with the fewest per unit of weight,
 * first come first served within one; a wait that ends with its signal.
 */
import { describe, expect, it } from 'vitest';
import { CpuTurns, type CpuTurn, type CpuTurnLimits } from '../../src/threads/cpu-turns.js';

const forever = new AbortController().signal;

/** A turn taken now, or the test fails. */
function now(turns: CpuTurns, client: string, weight = 1): CpuTurn {
  const taken = turns.take(client, weight, forever);
  if (taken instanceof Promise) throw new Error(`${client} had to wait`);
  return taken;
}

/** A turn waited for; `order` records who was served, in order. */
function later(
  turns: CpuTurns,
  client: string,
  order: string[],
  weight = 1,
  signal = forever,
): Promise<CpuTurn | undefined> {
  const taken = turns.take(client, weight, signal);
  if (!(taken instanceof Promise)) throw new Error(`${client} did not wait`);
  return taken.then((turn) => {
    if (turn) order.push(client);
    return turn;
  });
}

describe('CpuTurns', () => {
  it('gives every turn at once, without a promise, when there are no limits (one client)', () => {
    const turns = new CpuTurns(() => undefined);
    const taken = Array.from({ length: 10 }, () => now(turns, 'anonymous'));
    expect(turns.figures().get('anonymous')).toEqual({ running: 10, waiting: 0 });
    for (const turn of taken) turn.release();
    expect(turns.figures().size).toBe(0);
  });

  it("caps a client and all together; another client's turn is not held up by a backlog", async () => {
    const limits: CpuTurnLimits = { perClient: 1, total: 2 };
    const turns = new CpuTurns(() => limits);
    const served: string[] = [];
    const greedy = now(turns, 'greedy');
    const backlog = [later(turns, 'greedy', served), later(turns, 'greedy', served)];
    const modest = now(turns, 'modest');
    expect(turns.figures().get('greedy')).toEqual({ running: 1, waiting: 2 });
    greedy.release();
    (await backlog[0])!.release();
    modest.release();
    (await backlog[1])!.release();
    expect(served).toEqual(['greedy', 'greedy']);
    expect(turns.figures().size).toBe(0);
  });

  it('gives a freed turn to the client with the fewest running per unit of weight, the oldest first between equals', async () => {
    const turns = new CpuTurns(() => ({ perClient: 2, total: 3 }));
    const served: string[] = [];
    const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    const heavy = [now(turns, 'heavy', 2), now(turns, 'heavy', 2)];
    const light = now(turns, 'light');
    const waiting = [
      later(turns, 'light', served),
      later(turns, 'heavy', served, 2),
      later(turns, 'light', served),
      later(turns, 'heavy', served, 2),
    ];
    // heavy 1 running (½ per weight) against light 1 (1): heavy, although light's waiter is older.
    heavy[0]!.release();
    await settle();
    // heavy at its cap of 2: light.
    light.release();
    await settle();
    // heavy 1 (½) against light 1 (1): heavy.
    heavy[1]!.release();
    await settle();
    expect(served).toEqual(['heavy', 'light', 'heavy']);
    for (const turn of await Promise.all(waiting.slice(0, 2))) turn!.release();
    await settle();
    // The last one waiting gets its turn.
    (await waiting[2])!.release();
    (await waiting[3])!.release();
    expect(turns.figures().size).toBe(0);
  });

  it('between clients holding as many per unit of weight, serves the oldest waiter', async () => {
    const turns = new CpuTurns(() => ({ perClient: 1, total: 1 }));
    const served: string[] = [];
    const held = now(turns, 'x');
    const waiting = [later(turns, 'b', served), later(turns, 'a', served), later(turns, 'c', served)];
    held.release();
    (await waiting[0])!.release();
    (await waiting[1])!.release();
    (await waiting[2])!.release();
    expect(served).toEqual(['b', 'a', 'c']);
  });

  it('ends a wait when its signal fires, holding nothing, and passes over it when the turn comes', async () => {
    const turns = new CpuTurns(() => ({ perClient: 1, total: 1 }));
    const served: string[] = [];
    const held = now(turns, 'a');
    const canceled = new AbortController();
    const gone = later(turns, 'b', served, 1, canceled.signal);
    const next = later(turns, 'c', served);
    canceled.abort();
    expect(await gone).toBeUndefined();
    expect(turns.figures().get('b')).toBeUndefined();
    held.release();
    (await next)!.release();
    expect(served).toEqual(['c']);
    const aborted = AbortSignal.abort();
    const blocker = now(turns, 'a');
    expect(await turns.take('d', 1, aborted)).toBeUndefined();
    blocker.release();
    expect(turns.figures().size).toBe(0);
  });

  it("keeps an active client's floor of the turns: three busy clients cannot take a fourth's (issue 25)", async () => {
    const weights = new Map(['a', 'b', 'c', 'd'].map((client) => [client, 1]));
    const sharers = { active: weights, newcomer: 0, totalWeight: 4 };
    const turns = new CpuTurns(() => ({ perClient: 3, total: 4, sharers }));
    const served: string[] = [];
    // Before: a, b and c took all four turns (3 each allowed), and d waited for one of them to end.
    const busy = ['a', 'b', 'c'].flatMap((client) => [0, 1, 2].map(() => turns.take(client, 1, forever)));
    const running = busy.filter((taken): taken is CpuTurn => !(taken instanceof Promise));
    expect(running).toHaveLength(3);
    const floor = now(turns, 'd');
    // Beyond its floor, d waits as the others do; a turn freed goes to whoever holds fewest.
    const beyond = later(turns, 'd', served);
    floor.release();
    (await beyond)!.release();
    expect(served).toEqual(['d']);
    for (const turn of running) turn.release();
    for (const taken of busy) if (taken instanceof Promise) (await taken)!.release();
    expect(turns.figures().size).toBe(0);
  });

  it('lets a client below its floor share a thread rather than wait, when turns taken before it came hold every thread', async () => {
    const weights = new Map([['a', 1]]);
    let sharers = { active: weights, newcomer: 1, totalWeight: 2 };
    const turns = new CpuTurns(() => ({ perClient: 3, total: 4, sharers }));
    // a alone beside a newcomer's weight: its floor is 2, and it takes both.
    const early = [now(turns, 'a'), now(turns, 'a')];
    weights.set('b', 1).set('c', 1);
    sharers = { active: weights, newcomer: 1, totalWeight: 4 };
    const others = [now(turns, 'b'), now(turns, 'c')];
    // d comes: every thread computes, a over its floor of 1 now. Before: d waited for one of the four to end.
    weights.set('d', 1);
    sharers = { active: weights, newcomer: 0, totalWeight: 4 };
    const floor = now(turns, 'd');
    expect(turns.figures().get('d')).toEqual({ running: 1, waiting: 0 });
    // Beyond its floor, it waits like anyone (until its wait is given up).
    const giveUp = new AbortController();
    const beyond = later(turns, 'd', [], 1, giveUp.signal);
    expect(turns.figures().get('d')).toEqual({ running: 1, waiting: 1 });
    giveUp.abort();
    expect(await beyond).toBeUndefined();
    for (const turn of [...early, ...others, floor]) turn.release();
    expect(turns.figures().size).toBe(0);
  });

  it("gives a turn back once its step's CPU work is over, before its report: the client's next step does not wait for the hops", async () => {
    const limits: CpuTurnLimits = { perClient: 1, total: 2 };
    const turns = new CpuTurns(() => limits);
    let computed = false;
    const first = now(turns, 'victim');
    first.givenBackWhen(() => computed);
    const served: string[] = [];
    // Still computing: the next waits.
    const waiting = later(turns, 'victim', served);
    expect(turns.figures().get('victim')).toEqual({ running: 1, waiting: 1 });
    computed = true;
    // The thread marked the CPU work over; its report has not come. The next take looks, and the turn goes back: to
    // the waiter first, then (the cap reached again) the newcomer waits for it.
    const third = later(turns, 'victim', served);
    const second = (await waiting)!;
    expect(served).toEqual(['victim']);
    first.release(); // the report, later: nothing more to give back
    expect(turns.figures().get('victim')).toEqual({ running: 1, waiting: 1 });
    second.release();
    (await third)!.release();
    expect(turns.figures().size).toBe(0);
  });
});
