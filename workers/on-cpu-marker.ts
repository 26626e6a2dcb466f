/**
 * A thread's on-CPU marker in the tracker (src/shared-memory/step-tracker.ts): which step's code the thread is
 * executing, so that a thread found stuck, or dead of its heap, names the step that held it.
 *
 * A step marks itself each time its code is about to run, and unmarks itself when it yields through its context. If it
 * yields some other way, the mark must not stay on it: an immediate, which runs only once the thread is back in its
 * event loop — never while a step's code executes, nor its microtasks — clears it then. One immediate a turn serves
 * every step that ran in it: whichever of them holds the mark by then has yielded too.
 */
import type { TrackerShard } from '../src/shared-memory/step-tracker.js';

export class OnCpuMarker {
  private clearing = false;

  constructor(private readonly shard: TrackerShard) {}

  /** The code of the step of `cell` is about to run. */
  mark(cell: number): void {
    this.shard.setOnCpu(cell);
    if (this.clearing) return;
    this.clearing = true;
    setImmediate(this.clear);
  }

  /** The step of `cell` yields or ends: unmarked, unless another step holds the mark. */
  unmark(cell: number): void {
    if (this.shard.onCpu() === cell) this.shard.setOnCpu(undefined);
  }

  private readonly clear = (): void => {
    this.clearing = false;
    this.shard.setOnCpu(undefined);
  };
}
