/**
 * The thread's cancellation watch: while steps run on this thread, every
 * WATCH_MS it notes which of them are canceled yet still running, and beats
 * the thread's progress count.
 *
 * It lets the main thread judge fairly before it terminates a thread over a
 * step that outlived its grace period. A step seen canceled and still running
 * on two rounds had a whole turn of the event loop, between them, in which
 * its cancellation was delivered — it ignores it. A thread whose progress
 * count stands still is stuck. A thread that is only busy — a backlog of
 * thousands of cancellations to deliver — shows progress and is left to
 * finish.
 */
import type { CancelCells } from '../src/shared-memory/cancel-cells.js';
import type { TrackerShard } from '../src/shared-memory/step-tracker.js';

/** Well under the main thread's grace period (250 ms by default). */
const WATCH_MS = 25;

export class CancellationWatch {
  private readonly running = new Set<number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly cells: CancelCells,
    private readonly shard: TrackerShard,
  ) {}

  add(cell: number): void {
    this.running.add(cell);
    this.timer ??= setInterval(() => this.round(), WATCH_MS).unref();
  }

  remove(cell: number): void {
    this.running.delete(cell);
    if (this.running.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private round(): void {
    this.shard.beat();
    for (const cell of this.running) if (this.cells.isCanceled(cell)) this.cells.noteIgnored(cell);
  }
}
