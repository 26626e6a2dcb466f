/**
 * The turn line on its own (src/fairness/turn-line.ts): a unit given back
 * goes to the waiting client holding the fewest per weight, not to the work
 * that asked first; a client's own work keeps its order; nobody waits while
 * a unit is free; and work that fails gives its unit back.
 */
import { describe, expect, it } from 'vitest';
import { TurnLine } from '../../src/fairness/turn-line.js';

/** Work that runs until its `end` is called, noting when it started. */
function heldWork(started: string[], name: string) {
  const { promise, resolve } = Promise.withResolvers<string>();
  return { work: () => (started.push(name), promise), end: () => resolve(name) };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('a turn line', () => {
  it("hands a freed unit to another client's one waiting work before a flood's earlier queue", async () => {
    const line = new TurnLine(2, new Map());
    const started: string[] = [];
    const flood = Array.from({ length: 10 }, (_, i) => heldWork(started, `acme-${i}`));
    const runs = flood.map(({ work }) => line.run('acme', work));
    const victim = heldWork(started, 'globex');
    const victimRun = line.run('globex', victim.work);
    await settle();
    expect(started).toEqual(['acme-0', 'acme-1']);
    // A first-come line would give this unit to acme-2, and globex would start after all ten.
    flood[0]!.end();
    await settle();
    expect(started).toEqual(['acme-0', 'acme-1', 'globex']);
    victim.end();
    for (const { end } of flood) end();
    await Promise.all([...runs, victimRun]);
    expect(started.slice(3)).toEqual(flood.slice(2).map((_, i) => `acme-${i + 2}`));
    expect(line.busy).toBe(0);
  });

  it('lets one client take every free unit while nobody waits', async () => {
    const line = new TurnLine(3, new Map());
    const started: string[] = [];
    const works = [0, 1, 2].map((i) => heldWork(started, `acme-${i}`));
    const runs = works.map(({ work }) => line.run('acme', work));
    await settle();
    expect(started).toHaveLength(3);
    expect(line.busy).toBe(3);
    for (const { end } of works) end();
    await Promise.all(runs);
    expect(line.busy).toBe(0);
  });

  it('gives the unit of a work that fails back, to the next in turn', async () => {
    const line = new TurnLine(1, new Map());
    const failing = line.run('acme', () => Promise.reject(new Error('Postgres said no')));
    const next = line.run('globex', async () => 'ran');
    await expect(failing).rejects.toThrow('Postgres said no');
    expect(await next).toBe('ran');
    expect(line.busy).toBe(0);
  });

  it('serves the heavier client more turns, by its weight', async () => {
    const line = new TurnLine(3, new Map([['acme', 2]]));
    const started: string[] = [];
    const first = [0, 1, 2].map((i) => heldWork(started, `first-${i}`));
    const firstRuns = first.map(({ work }) => line.run('initech', work));
    const acme = Array.from({ length: 4 }, (_, i) => heldWork(started, `acme-${i}`));
    const globex = Array.from({ length: 4 }, (_, i) => heldWork(started, `globex-${i}`));
    const runs = [...acme, ...globex].map(({ work }, i) => line.run(i < 4 ? 'acme' : 'globex', work));
    for (const { end } of first) end();
    await Promise.all(firstRuns);
    await settle();
    // Three units free at once: acme (weight 2) takes two, globex one.
    expect(started.slice(3).sort()).toEqual(['acme-0', 'acme-1', 'globex-0']);
    for (const { end } of [...acme, ...globex]) end();
    await Promise.all(runs);
    expect(line.busy).toBe(0);
  });
});
