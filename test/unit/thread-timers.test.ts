import { describe, expect, it } from 'vitest';
import { CancelCells } from '../../src/shared-memory/cancel-cells.js';
import { ThreadTimers, type Sleeper } from '../../workers/thread-timers.js';

const BELL = 3;

/** Sleep through the timer list; resolves with whether it was canceled and how long it took. */
function sleep(timers: ThreadTimers, cell: number, ms: number): Promise<{ canceled: boolean; tookMs: number }> {
  const from = performance.now();
  return new Promise((resolve) =>
    timers.sleep(cell, ms, (canceled) => resolve({ canceled, tookMs: performance.now() - from })),
  );
}

describe('ThreadTimers', () => {
  it('wakes sleepers at their deadlines, in order, under one list', async () => {
    const cells = CancelCells.create(4);
    const timers = new ThreadTimers(cells, BELL, () => {});
    const woken: number[] = [];
    // Each deadline is its own call's time plus its sleep, as the list set it (`dueAt`): laid down a moment apart, 40 ms
    // from the first call comes before 25 ms from the third if the machine held the test 15 ms between the two (a full
    // run did: woken [1, 3, 0, 2]). The order expected is theirs: [1, 3, 2, 0] on a machine that held nothing.
    const sleepers = [40, 10, 25, 10].map((ms, cell) => {
      const from = performance.now();
      let woke!: (result: { canceled: boolean; tookMs: number }) => void;
      const result = new Promise<{ canceled: boolean; tookMs: number }>((resolve) => (woke = resolve));
      const sleeper: Sleeper = {
        cell,
        dueAt: 0,
        heapAt: -1,
        woke: (canceled) => {
          woken.push(cell);
          woke({ canceled, tookMs: performance.now() - from });
        },
      };
      timers.sleepRecord(sleeper, ms);
      return { sleeper, result };
    });
    expect(timers.sleeping).toBe(4);
    const deadlines = sleepers.map(({ sleeper }) => sleeper.dueAt);
    const results = await Promise.all(sleepers.map(({ result }) => result));
    const byDeadline = [0, 1, 2, 3].sort((a, b) => deadlines[a]! - deadlines[b]! || a - b);
    expect(woken, `deadlines ${deadlines.map((at) => at.toFixed(2)).join(', ')}`).toEqual(byDeadline);
    results.forEach(({ canceled, tookMs }, cell) => {
      expect(canceled).toBe(false);
      expect(tookMs).toBeGreaterThanOrEqual([40, 10, 25, 10][cell]!);
    });
    expect(timers.sleeping).toBe(0);
  });

  it('wakes a canceled sleeper through the thread bell, and leaves the others asleep', async () => {
    const cells = CancelCells.create(3);
    const timers = new ThreadTimers(cells, BELL, () => {});
    for (const cell of [0, 1, 2]) cells.markStarted(cell, BELL);
    const first = sleep(timers, 0, 60_000);
    const second = sleep(timers, 1, 60_000);
    // Long enough to be still asleep when the cancel is seen, however late a full run's busy cores make the bell (at
    // 20 ms, it woke first in one).
    const short = sleep(timers, 2, 1000);
    setTimeout(() => cells.cancel(1), 5);
    const woke = await second;
    expect(woke.canceled).toBe(true);
    expect(woke.tookMs).toBeLessThan(30_000);
    expect(timers.sleeping).toBe(2);
    expect((await short).canceled).toBe(false);
    cells.cancel(0);
    expect((await first).canceled).toBe(true);
    expect(timers.sleeping).toBe(0);
  });

  it('never wakes a sleeper before its time, also one laid down late in a long turn of the event loop', async () => {
    // A step's delay stands for a dependency's latency: ended early, it flatters every figure measured against it (a
    // fifth of the 1 ms steps under overhead's load ended in under half a millisecond). Node's timers count from the
    // time the turn began, so a 1 ms timer set 3 ms into a turn is due at once; and a sleeper due within the timer's
    // grain was woken with the one before it.
    const SLEEPERS = 200;
    const cells = CancelCells.create(SLEEPERS);
    const timers = new ThreadTimers(cells, BELL, () => {});
    const early: Array<{ ms: number; tookMs: number }> = [];
    for (let round = 0; round < 20; round++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      const turnStarted = performance.now();
      while (performance.now() - turnStarted < 3);
      const sleeps = Array.from({ length: SLEEPERS / 20 }, (_, i) => {
        const ms = [1, 1.5, 2, 0.3][i % 4]!;
        return sleep(timers, round * (SLEEPERS / 20) + i, ms).then(({ tookMs }) => {
          if (tookMs < ms) early.push({ ms, tookMs });
        });
      });
      await Promise.all(sleeps);
    }
    expect(early).toEqual([]);
    expect(timers.sleeping).toBe(0);
  });

  it('finishes a sleep on the thread, blocked on its bell, rather than at the next whole millisecond', async () => {
    // Left to the timer's next firing, a sleep ended up to a millisecond late (0.49 ms on average for overhead's 1 ms
    // steps), and a courier step held its slot that much longer. The timer is aimed early and the thread waits out the
    // rest: each finish is a block of under a millisecond, and no sleep ends before its time.
    const finishes: number[] = [];
    class CountedCells extends CancelCells {
      override sleepOnBell(bell: number, ms: number): void {
        finishes.push(ms);
        super.sleepOnBell(bell, ms);
      }
    }
    const cells = new CountedCells(CancelCells.create(1).buffer);
    const timers = new ThreadTimers(cells, BELL, () => {});
    for (let i = 0; i < 30; i++) {
      const { canceled, tookMs } = await sleep(timers, 0, 3);
      expect(canceled).toBe(false);
      expect(tookMs).toBeGreaterThanOrEqual(3);
    }
    // Not every one: on a busy machine a timer aimed a millisecond early can still fire after the deadline.
    expect(finishes.length).toBeGreaterThan(0);
    for (const ms of finishes) {
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThan(1);
    }
  });

  it('does not sleep on a cell canceled before, nor for 0 ms', async () => {
    const cells = CancelCells.create(2);
    const timers = new ThreadTimers(cells, BELL, () => {});
    cells.cancel(0);
    expect((await sleep(timers, 0, 5000)).canceled).toBe(true);
    expect((await sleep(timers, 1, 0)).canceled).toBe(false);
    expect(timers.sleeping).toBe(0);
  });

  it('calls a watcher once when its cell is canceled, and never after it is removed', async () => {
    const cells = CancelCells.create(2);
    const timers = new ThreadTimers(cells, BELL, () => {});
    cells.markStarted(0, BELL);
    cells.markStarted(1, BELL);
    let calls = 0;
    const canceled = new Promise<void>((resolve) => timers.watch(0, resolve));
    const unwatch = timers.watch(1, () => calls++);
    unwatch();
    cells.cancel(1);
    cells.cancel(0);
    await canceled;
    expect(calls).toBe(0);
  });

  it('wakes sleepers due together one per microtask: each step runs on before the next is woken', async () => {
    const cells = CancelCells.create(3);
    const timers = new ThreadTimers(cells, BELL, () => {});
    const order: string[] = [];
    const step = async (cell: number): Promise<void> => {
      await new Promise<boolean>((resolve) =>
        timers.sleep(cell, 5, (canceled) => {
          order.push(`wake ${cell}`);
          resolve(canceled);
        }),
      );
      order.push(`run ${cell}`);
    };
    await Promise.all([0, 1, 2].map(step));
    expect(order).toEqual(['wake 0', 'run 0', 'wake 1', 'run 1', 'wake 2', 'run 2']);
  });

  it("beats the thread's progress on every wake: a long run of sleepers due together is busy, not stuck", async () => {
    const SLEEPERS = 1000;
    const cells = CancelCells.create(SLEEPERS);
    let beats = 0;
    const timers = new ThreadTimers(cells, BELL, () => beats++);
    // What the main thread sees of the count while each woken step runs on without ending: it must have moved.
    const seenOnWake: number[] = [];
    await Promise.all(
      Array.from(
        { length: SLEEPERS },
        (_, cell) => new Promise<void>((resolve) => timers.sleep(cell, 5, () => (seenOnWake.push(beats), resolve()))),
      ),
    );
    expect(beats).toBe(SLEEPERS);
    expect(new Set(seenOnWake).size).toBe(SLEEPERS);
  });
});
