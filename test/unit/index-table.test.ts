import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { IndexTable } from '../../src/shared-memory/index-table.js';

const entries = <T>(table: IndexTable<T>): Array<[number, T]> => {
  const seen: Array<[number, T]> = [];
  table.forEach((value, cell) => seen.push([cell, value]));
  return seen;
};

describe('an index table', () => {
  it('keeps one entry per index, in the order they were set', () => {
    const table = new IndexTable<string>(8);
    table.set(5, 'a');
    table.set(2, 'b');
    table.set(7, 'c');
    table.set(2, 'B'); // an index set again keeps its place
    expect(entries(table)).toEqual([
      [5, 'a'],
      [2, 'B'],
      [7, 'c'],
    ]);
    expect(table.size).toBe(3);
    expect(table.get(2)).toBe('B');
    expect(table.has(0)).toBe(false);
    expect(table.get(0)).toBeUndefined();
  });

  it('takes entries out from anywhere in the order, and an index set again goes last', () => {
    const table = new IndexTable<number>(8);
    for (const cell of [1, 2, 3, 4]) table.set(cell, cell * 10);
    expect(table.delete(1)).toBe(true); // first
    expect(table.delete(3)).toBe(true); // middle
    expect(table.delete(4)).toBe(true); // last
    expect(table.delete(4)).toBe(false);
    table.set(3, 33);
    table.set(1, 11);
    expect(entries(table)).toEqual([
      [2, 20],
      [3, 33],
      [1, 11],
    ]);
    for (const cell of [2, 3, 1]) table.delete(cell);
    expect(table.size).toBe(0);
    expect(entries(table)).toEqual([]);
    table.set(6, 60);
    expect(entries(table)).toEqual([[6, 60]]);
  });

  it('lets a visit take out the entry it is given', () => {
    const table = new IndexTable<string>(4);
    for (const cell of [0, 1, 2, 3]) table.set(cell, `s${cell}`);
    const visited: number[] = [];
    table.forEach((_, cell) => {
      visited.push(cell);
      if (cell % 2 === 0) table.delete(cell);
    });
    expect(visited).toEqual([0, 1, 2, 3]);
    expect(entries(table)).toEqual([
      [1, 's1'],
      [3, 's3'],
    ]);
  });

  it('refuses an index it does not have, and undefined as an entry', () => {
    const table = new IndexTable<object>(4);
    expect(() => table.set(4, {})).toThrow(RangeError);
    expect(() => table.get(-1)).toThrow(RangeError);
    expect(() => table.delete(1.5)).toThrow(RangeError);
    expect(() => table.set(0, undefined as unknown as object)).toThrow(TypeError);
    expect(() => new IndexTable(0)).toThrow(RangeError);
  });

  /**
   * Bytes held by data, not by code: a compilation finishing during the churn (late, on a busy machine) installs its
   * code and metadata in spaces of their own, which are not the table's allocations.
   */
  const dataBytes = (): number =>
    getHeapSpaceStatistics()
      .filter(({ space_name }) => !/code|trusted|read_only/.test(space_name))
      .reduce((total, space) => total + space.space_used_size, 0);

  it('allocates nothing as entries come and go: through a million of them, no collection of its own', async () => {
    // What a Map set and deleted for every step does not do (index-table.ts): it rebuilds its hash table as it goes.
    const table = new IndexTable<object>(4096);
    const value = {};
    const churn = (rounds: number): void => {
      for (let i = 0; i < rounds; i++) {
        table.set((i * 7) & 4095, value);
        if (i >= 100) table.delete(((i - 100) * 7) & 4095);
      }
      for (let i = Math.max(0, rounds - 100); i < rounds; i++) table.delete((i * 7) & 4095);
    };
    // The code compiled, on-stack replacement of the loop included, and given a moment to be installed.
    churn(1_000_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    let collections = 0;
    const observer = new PerformanceObserver((list) => (collections += list.getEntries().length));
    observer.observe({ entryTypes: ['gc'] });
    const before = dataBytes();
    churn(1_000_000);
    const grown = dataBytes() - before;
    await new Promise((resolve) => setTimeout(resolve, 50));
    observer.disconnect();
    expect(table.size).toBe(0);
    // At most one: the young generation may have been about full already. A Map churned alike: 15 or so.
    expect({ atMostOneCollection: collections <= 1, grownUnder64KB: grown < 65_536 }).toEqual({
      atMostOneCollection: true,
      grownUnder64KB: true,
    });
  });
});
