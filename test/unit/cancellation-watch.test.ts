import { describe, expect, it } from 'vitest';
import { CancelCells } from '../../src/shared-memory/cancel-cells.js';
import { StepTracker } from '../../src/shared-memory/step-tracker.js';
import { CancellationWatch } from '../../workers/cancellation-watch.js';
import { ThreadTimers } from '../../workers/thread-timers.js';

const THREAD = 7;
/** Rounds are 25 ms apart: this is several of them, also on a busy machine. */
const ROUNDS_MS = 150;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A watch as a step thread has one: its cells started on the thread's bell (step-runtime.ts), as a task's are. */
function watchOnThread(cellCount: number) {
  const cells = CancelCells.create(cellCount);
  const tracker = StepTracker.create(1);
  const shard = tracker.claim(THREAD);
  const timers = new ThreadTimers(cells, shard.index, () => {});
  const watch = new CancellationWatch(cells, shard, timers);
  const start = (cell: number): void => {
    cells.markStarted(cell, shard.index);
    watch.add(cell);
  };
  return { cells, watch, start, progress: () => tracker.progressOf(THREAD)! };
}

describe('CancellationWatch', () => {
  it('notes only the canceled cells still running, whatever order they leave in', async () => {
    const { cells, watch, start } = watchOnThread(8);
    for (const cell of [1, 2, 3, 5]) start(cell);
    // The middle one leaves first: the last takes its place in the list.
    watch.remove(2);
    cells.cancel(2);
    cells.cancel(5);
    await pause(ROUNDS_MS);
    expect([1, 2, 3, 5].map((cell) => cells.timesIgnored(cell) > 0)).toEqual([false, false, false, true]);

    watch.remove(5);
    // Removed twice, or never added: nothing changes.
    watch.remove(5);
    watch.remove(6);
    const ignoredBefore = cells.timesIgnored(5);
    cells.cancel(3);
    await pause(ROUNDS_MS);
    expect(cells.timesIgnored(5)).toBe(ignoredBefore);
    expect(cells.timesIgnored(3)).toBeGreaterThan(0);
    expect(cells.timesIgnored(1)).toBe(0);
    watch.remove(1);
    watch.remove(3);
  });

  it('wakes its thread for no round while its steps run uncanceled; beats from a cancellation on, until no canceled step runs', async () => {
    const { cells, watch, start, progress } = watchOnThread(4);
    start(0);
    start(1);
    const from = progress();
    // A step asleep for seconds cost its thread a round every 25 ms, each a wake-up of the thread for nothing.
    await pause(ROUNDS_MS);
    expect(progress()).toBe(from);

    // The thread hears of the cancellation on its bell: rounds begin, and note the step still running.
    cells.cancel(0);
    await pause(ROUNDS_MS);
    expect(progress()).toBeGreaterThan(from);
    expect(cells.timesIgnored(0)).toBeGreaterThanOrEqual(2);

    // The canceled step ends: the next round finds none running, and stops, though an uncanceled one still runs.
    watch.remove(0);
    await pause(ROUNDS_MS);
    const stopped = progress();
    await pause(ROUNDS_MS);
    expect(progress()).toBe(stopped);
    watch.remove(1);
  });

  it('watches a step canceled before it reached the thread, for which no bell rang', async () => {
    const { cells, watch, start, progress } = watchOnThread(2);
    cells.cancel(0);
    const from = progress();
    start(0);
    await pause(ROUNDS_MS);
    expect(cells.timesIgnored(0)).toBeGreaterThanOrEqual(2);
    expect(progress()).toBeGreaterThan(from);
    watch.remove(0);
  });
});
