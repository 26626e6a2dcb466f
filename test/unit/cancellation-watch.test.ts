import { describe, expect, it } from 'vitest';
import { CancelCells } from '../../src/shared-memory/cancel-cells.js';
import { StepTracker } from '../../src/shared-memory/step-tracker.js';
import { CancellationWatch } from '../../workers/cancellation-watch.js';

const THREAD = 7;
/** Rounds are 25 ms apart: this is several of them, also on a busy machine. */
const ROUNDS_MS = 150;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function watchOnThread(cellCount: number) {
  const cells = CancelCells.create(cellCount);
  const tracker = StepTracker.create(1);
  const watch = new CancellationWatch(cells, tracker.claim(THREAD));
  return { cells, watch, progress: () => tracker.progressOf(THREAD)! };
}

describe('CancellationWatch', () => {
  it('notes only the canceled cells still running, whatever order they leave in', async () => {
    const { cells, watch } = watchOnThread(8);
    for (const cell of [1, 2, 3, 5]) watch.add(cell);
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

  it('beats while steps run, and stops at its next round once none does', async () => {
    const { watch, progress } = watchOnThread(4);
    watch.add(0);
    const from = progress();
    await pause(ROUNDS_MS);
    expect(progress()).toBeGreaterThan(from);

    watch.remove(0);
    // The round after the last step's end finds nothing running and stops the interval: no beat after it.
    await pause(ROUNDS_MS);
    const stopped = progress();
    await pause(ROUNDS_MS);
    expect(progress()).toBe(stopped);

    // A step after the stop starts it again.
    watch.add(1);
    await pause(ROUNDS_MS);
    expect(progress()).toBeGreaterThan(stopped);
    watch.remove(1);
  });
});
