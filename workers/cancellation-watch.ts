/**
 * The thread's cancellation watch: while steps run on this thread, every WATCH_MS it notes which of them are canceled
 * yet still running, and beats the thread's progress count.
 *
 * It lets the main thread judge fairly before it terminates a thread over a step that outlived its grace period. A step
 * seen canceled and still running on two rounds had a whole turn of the event loop, between them, in which its
 * cancellation was delivered — it ignores it. A thread whose progress count stands still is stuck. A thread that is
 * only busy — a backlog of thousands of cancellations to deliver — shows progress and is left to finish.
 */
import type { CancelCells } from '../src/shared-memory/cancel-cells.js';
import type { TrackerShard } from '../src/shared-memory/step-tracker.js';

/** Well under the main thread's grace period (250 ms by default). */
const WATCH_MS = 25;

/**
 * The cells of the steps running on this thread, as a dense list and each cell's place in it (its index + 1; 0: not
 * running), not a Set: a Set added to and deleted from for every step rebuilds its table as it grows and shrinks, and
 * each table it drops is garbage for this thread's collector (src/shared-memory/index-table.ts says what that costs).
 * The places are a typed array as long as the cells are many; its pages are touched only for the cells this thread
 * runs.
 */
export class CancellationWatch {
  private readonly running: number[] = [];
  private readonly placeOf: Int32Array;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly cells: CancelCells,
    private readonly shard: TrackerShard,
  ) {
    this.placeOf = new Int32Array(cells.capacity);
  }

  add(cell: number): void {
    if (this.placeOf[cell] === 0) this.placeOf[cell] = this.running.push(cell);
    this.timer ??= setInterval(() => this.round(), WATCH_MS).unref();
  }

  /**
   * The interval outlives the last step: it stops at its next round if nothing runs by then. Stopped here, it was
   * cleared and made again whenever a thread's steps all ended between two batches, thousands of times a second under
   * load: timer churn for nothing.
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

  private round(): void {
    if (this.running.length === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    this.shard.beat();
    for (const cell of this.running) if (this.cells.isCanceled(cell)) this.cells.noteIgnored(cell);
  }
}
