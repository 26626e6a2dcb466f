/**
 * The deadline list: many deadlines set the same span ahead, judged from one
 * timer. Each entry told once its deadline has passed, in the order set, never
 * early and never once taken out; no timer left when no entry is.
 */
import { describe, expect, it } from 'vitest';
import { DeadlineList, type Deadlined } from '../../src/pipeline/deadline-list.js';
import { DeadlineLists } from '../../src/pipeline/deadline-lists.js';

class Entry implements Deadlined {
  passedAt: number | undefined;
  constructor(
    readonly name: string,
    private readonly told: string[],
  ) {}
  deadlinePassed(): void {
    this.passedAt = performance.now();
    this.told.push(this.name);
  }
}

const until = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('DeadlineList', () => {
  it('tells each entry once its deadline has passed, in order, and none that was taken out', async () => {
    const told: string[] = [];
    const list = new DeadlineList<Entry>();
    const now = performance.now();
    const entries = ['a', 'b', 'c', 'd'].map((name) => new Entry(name, told));
    const dues = [now + 20, now + 40, now + 40, now + 60];
    const handles = entries.map((entry, i) => list.add(entry, dues[i]!));
    list.remove(handles[1]!);
    expect(list.size).toBe(3);
    await until(120);
    expect(told).toEqual(['a', 'c', 'd']);
    for (const i of [0, 2, 3]) expect(entries[i]!.passedAt!).toBeGreaterThanOrEqual(dues[i]! - 1);
    expect(list.size).toBe(0);
  });

  it('re-arms for the first live entry when the one it was armed for is taken out', async () => {
    const told: string[] = [];
    const list = new DeadlineList<Entry>();
    const now = performance.now();
    const first = list.add(new Entry('first', told), now + 10);
    const second = new Entry('second', told);
    list.add(second, now + 30);
    list.remove(first);
    // Told, and not at the first's deadline: judged by when it was told, not by what a fixed wait saw (beside busy
    // loops a 15 ms wait ended after 30 ms, and 'second' had rightly been told).
    await until(60);
    expect(told).toEqual(['second']);
    expect(second.passedAt!).toBeGreaterThanOrEqual(now + 30 - 1);
  });

  it('keeps no timer once every entry is out, so that an idle list holds no process open', () => {
    const list = new DeadlineList<Entry>();
    const handle = list.add(new Entry('x', []), performance.now() + 60_000);
    list.remove(handle);
    list.remove(handle);
    list.remove(-1);
    expect(list.size).toBe(0);
    expect((list as unknown as { timer: unknown }).timer).toBeUndefined();
  });

  it('takes entries added while it tells others, and stays right across many entries (compaction)', async () => {
    const told: string[] = [];
    const list = new DeadlineList<Deadlined>();
    const start = performance.now();
    const handles: number[] = [];
    for (let i = 0; i < 10_000; i++) handles.push(list.add(new Entry(`e${i}`, told), start + 5));
    for (let i = 0; i < 10_000; i++) if (i !== 9_999) list.remove(handles[i]!);
    const again = new Entry('again', told);
    let againDue = Infinity;
    const chained: Deadlined = {
      deadlinePassed: () => void list.add(again, (againDue = performance.now() + 5)),
    };
    list.add(chained, start + 5);
    // Until both are told, however late the timers run (a fixed 40 ms wait, in a full run on a slow machine, ended
    // before the one added while telling had come due), then that neither came early.
    await expect.poll(() => told.length, { timeout: 5000 }).toBe(2);
    expect(told).toEqual(['e9999', 'again']);
    expect(again.passedAt!).toBeGreaterThanOrEqual(againDue - 1);
    expect(list.size).toBe(0);
  });
});

describe('DeadlineLists', () => {
  it('keeps one list per span, each in the order its deadlines were set; spans asked once go once emptied', async () => {
    const told: string[] = [];
    const lists = new DeadlineLists<Entry>();
    const now = performance.now();
    // Set in this order, due in another: each span's list judges its own.
    lists.of(60).add(new Entry('long', told), now + 60);
    lists.of(20).add(new Entry('short', told), now + 20);
    expect(lists.of(60)).toBe(lists.of(60));
    await until(90);
    expect(told).toEqual(['short', 'long']);
    for (let span = 1; span <= 100; span++) lists.of(1000 + span);
    // Every list left is one made since the last pruning, or still holding a deadline.
    expect(lists.lists).toBeLessThanOrEqual(64);
  });
});
