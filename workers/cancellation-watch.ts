/**
 * The thread's cancellation watch: while a canceled step still runs on this thread, every WATCH_MS it notes which of
 * the steps are canceled yet still running, and beats the thread's progress count.
 *
 * It lets the main thread judge fairly before it terminates a thread over a step that outlived its grace period. A step
 * seen canceled and still running on two rounds had a whole turn of the event loop, between them, in which its
 * cancellation was delivered — it ignores it. A thread whose progress count stands still is stuck. A thread that is
 * only busy — a backlog of thousands of cancellations to deliver — shows progress and is left to finish.
 *
 * The main thread judges a thread only over a canceled step (src/threads/pooled-step-runner.ts), so the rounds run only
 * from a cancellation on: the thread hears of one on its bell, which it listens to while any step runs here
 * (thread-timers.ts, `BellFollower`), or it canceled the step itself. A step running uncanceled costs its thread no
 * wake-up: rounds every WATCH_MS while steps ran were 40 wake-ups a second on a thread with one step asleep, most of what
 * a lightly loaded thread spent.
 */
import type { CancelCells } from '../src/shared-memory/cancel-cells.js';
import type { TrackerShard } from '../src/shared-memory/step-tracker.js';
import type { BellFollower, ThreadTimers } from './thread-timers.js';

/** Well under the main thread's grace period (250 ms by default). */
const WATCH_MS = 25;

/**
 * The cells of the steps running on this thread, as a dense list and each cell's place in it (its index + 1; 0: not
 * running), not a Set: a Set added to and deleted from for every step rebuilds its table as it grows and shrinks, and
 * each table it drops is garbage for this thread's collector (src/shared-memory/index-table.ts says what that costs).
 * The places are a typed array as long as the cells are many; its pages are touched only for the cells this thread
 * runs.
 */
export class CancellationWatch implements BellFollower {
  private readonly running: number[] = [];
  private readonly placeOf: Int32Array;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly cells: CancelCells,
    private readonly shard: TrackerShard,
    private readonly timers: ThreadTimers,
  ) {
    this.placeOf = new Int32Array(cells.capacity);
    timers.follow(this);
  }

  add(cell: number): void {
    if (this.placeOf[cell] === 0) this.placeOf[cell] = this.running.push(cell);
    this.timers.listenForFollower();
    // Canceled before it started here: no bell was rung for it.
    if (this.cells.isCanceled(cell)) this.looked();
  }

  /**
   * The interval outlives the step it began for: it stops at its next round if no canceled step runs by then. Stopped
   * here, it would be cleared and made again for every canceled step that ends, thousands of times a second in a
   * cancellation storm: timer churn for nothing.
   */
  remove(cell: number): void {
    const place = this.placeOf[cell]!;
    if (place === 0) return;
    this.placeOf[cell] = 0;
    const last = this.running.pop()!;
    if (last === cell) return;
    this.running[place - 1] = last;
    this.placeOf[last] = place;
  }

  /** Its thread listens to its bell while steps run here. */
  get wantsBell(): boolean {
    return this.running.length > 0;
  }

  /** Cells may have been canceled: rounds begin, if they have not, and end at the first that finds none running. */
  looked(): void {
    if (this.running.length > 0) this.timer ??= setInterval(() => this.round(), WATCH_MS).unref();
  }

  private round(): void {
    let canceled = 0;
    for (const cell of this.running) {
      if (!this.cells.isCanceled(cell)) continue;
      this.cells.noteIgnored(cell);
      canceled++;
    }
    if (canceled === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    this.shard.beat();
  }
}
