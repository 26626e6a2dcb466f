/**
 * The step tracker: how many steps are running inside worker threads right now (Go's `atomic.Int64` tracker, across
 * threads). Workers add and subtract; the main thread only reads — and gives back the share of a thread that died.
 *
 * Why sharded: a terminated thread runs no `finally`, so whatever it had added is never subtracted by it. With one
 * shared counter the main thread could not tell how much of the total a dead thread held (a thread can die between any
 * two instructions, e.g. between "add to the counter" and "note that I added"). With one shard per thread, a thread
 * touches only its own shard, and once the thread has exited the main thread zeroes that shard: the correction is
 * exact, with no window. The total is the sum of shards.
 *
 * A shard also holds ON_CPU: the cell of the step whose code the thread is executing at this moment (0 while it waits).
 * If the thread dies without last words — out of memory, or terminated while stuck in a loop — this is the step to
 * blame. And PROGRESS: a count that moves whenever the thread starts, wakes or finishes a step or computes a slice,
 * so the main thread can tell a thread that is stuck from one that is merely busy. Starting counts: a thread taking
 * over a dead thread's steps starts thousands of them in one long turn of its event loop, in which nothing else moves
 * the count. Waking counts for the same reason: thousands of sleepers fall due together, and most wake to wait again,
 * not to finish. And KERNEL_TID, so the main thread can ask the kernel whether a thread that stood still had a CPU
 * to run on (src/threads/kernel-schedule.ts).
 */

/** Words of one shard, each an Int32. */
const OWNER = 0; // threadId of the worker holding the shard, 0 when free
const RUNNING = 1; // steps this thread is running
const ON_CPU = 2; // cell + 1 of the step executing right now, 0 when none
const PROGRESS = 3; // moves on every step started, woken or finished and every slice of CPU work
const KERNEL_TID = 4; // the thread's id in the kernel (Linux's tid), 0 where it cannot tell
const WORDS_PER_SHARD = 5;

const NO_CELL = 0;

/** What a dead thread left behind, read by the main thread as it reclaims the shard. */
export interface ReclaimedShard {
  /** Steps it was counted as running when it died. */
  readonly running: number;
  /** The cell whose code was executing when it died, if any. */
  readonly onCpuCell: number | undefined;
}

/** One live thread's shard, as the main thread reads it for whoever watches. */
export interface ShardReading {
  readonly threadId: number;
  readonly running: number;
  /** The cell whose code the thread is executing right now, if any. */
  readonly onCpuCell: number | undefined;
  readonly progress: number;
}

export class StepTracker {
  readonly buffer: SharedArrayBuffer;
  readonly shards: number;
  private readonly words: Int32Array;
  /** Where each thread's shard was last found (main thread): checked by its owner word before it is read. */
  private readonly shardBaseOf = new Map<number, number>();

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    this.shards = Math.floor(this.words.length / WORDS_PER_SHARD);
  }

  /**
   * Room for `threads` live threads and, generously, for threads that have died but not yet exited while their
   * replacements already run.
   */
  static create(threads: number): StepTracker {
    if (!Number.isInteger(threads) || threads < 1)
      throw new RangeError(`threads must be a positive integer, got ${threads}`);
    const shards = threads * 4 + 4;
    return new StepTracker(new SharedArrayBuffer(shards * WORDS_PER_SHARD * Int32Array.BYTES_PER_ELEMENT));
  }

  /** Main thread: steps running in all threads. */
  running(): number {
    let total = 0;
    for (let s = 0; s < this.shards; s++) total += Atomics.load(this.words, s * WORDS_PER_SHARD + RUNNING);
    return total;
  }

  /** Main thread: the progress count of a thread, or undefined if it holds no shard (it has run no step yet). */
  progressOf(threadId: number): number | undefined {
    const base = this.shardOf(threadId);
    return base === undefined ? undefined : Atomics.load(this.words, base + PROGRESS);
  }

  /** Main thread: whether a thread is executing a step's code at this moment (ON_CPU), not waiting in its loop. */
  executingOn(threadId: number): boolean {
    const base = this.shardOf(threadId);
    return base !== undefined && Atomics.load(this.words, base + ON_CPU) !== NO_CELL;
  }

  /** Main thread: the kernel's id of a thread, or undefined if it holds no shard or could not tell its id. */
  kernelThreadIdOf(threadId: number): number | undefined {
    const base = this.shardOf(threadId);
    return base === undefined ? undefined : Atomics.load(this.words, base + KERNEL_TID) || undefined;
  }

  /**
   * Main thread: where a thread's shard begins, or undefined if it holds none. Asked for every thread at each step's
   * placement (executingOn): the place is remembered, checked by its owner word, and looked for again only once
   * another thread holds it.
   */
  private shardOf(threadId: number): number | undefined {
    const known = this.shardBaseOf.get(threadId);
    if (known !== undefined && Atomics.load(this.words, known + OWNER) === threadId) return known;
    for (let s = 0; s < this.shards; s++) {
      const base = s * WORDS_PER_SHARD;
      if (Atomics.load(this.words, base + OWNER) !== threadId) continue;
      this.shardBaseOf.set(threadId, base);
      return base;
    }
    return undefined;
  }

  /** Main thread: every shard held, one per thread that has run a step (a snapshot; the words move meanwhile). */
  shardsInUse(): ShardReading[] {
    const readings: ShardReading[] = [];
    for (let s = 0; s < this.shards; s++) {
      const base = s * WORDS_PER_SHARD;
      const threadId = Atomics.load(this.words, base + OWNER);
      if (threadId === 0) continue;
      const onCpu = Atomics.load(this.words, base + ON_CPU);
      readings.push({
        threadId,
        running: Atomics.load(this.words, base + RUNNING),
        onCpuCell: onCpu === NO_CELL ? undefined : onCpu - 1,
        progress: Atomics.load(this.words, base + PROGRESS),
      });
    }
    return readings;
  }

  /** Worker: take a free shard for this thread. Throws if every shard is held. */
  claim(threadId: number, kernelThreadId = 0): TrackerShard {
    if (!Number.isInteger(threadId) || threadId <= 0)
      throw new RangeError(`threadId must be positive, got ${threadId}`);
    for (let s = 0; s < this.shards; s++) {
      const base = s * WORDS_PER_SHARD;
      if (Atomics.compareExchange(this.words, base + OWNER, 0, threadId) === 0) {
        Atomics.store(this.words, base + KERNEL_TID, kernelThreadId);
        return new TrackerShard(this.words, base);
      }
    }
    throw new Error(`no free tracker shard for thread ${threadId} (${this.shards} shards)`);
  }

  /**
   * Main thread, only after the thread has exited: give back its share and free its shard. Returns undefined if the
   * thread never claimed one (it died before running any step).
   */
  reclaim(threadId: number): ReclaimedShard | undefined {
    this.shardBaseOf.delete(threadId);
    for (let s = 0; s < this.shards; s++) {
      const base = s * WORDS_PER_SHARD;
      if (Atomics.load(this.words, base + OWNER) !== threadId) continue;
      const running = Atomics.exchange(this.words, base + RUNNING, 0);
      const onCpu = Atomics.exchange(this.words, base + ON_CPU, NO_CELL);
      Atomics.store(this.words, base + PROGRESS, 0);
      Atomics.store(this.words, base + KERNEL_TID, 0);
      // Free the shard last, so a new thread never claims one that is half reset.
      Atomics.store(this.words, base + OWNER, 0);
      return { running, onCpuCell: onCpu === NO_CELL ? undefined : onCpu - 1 };
    }
    return undefined;
  }
}

/** One thread's shard. Only that thread writes to it while it lives. */
export class TrackerShard {
  constructor(
    private readonly words: Int32Array,
    private readonly base: number,
  ) {}

  /** The shard's place among the tracker's: a number no other live thread holds. */
  get index(): number {
    return this.base / WORDS_PER_SHARD;
  }

  /** A step starts on this thread: counted as running, and as progress. */
  enter(): void {
    Atomics.add(this.words, this.base + RUNNING, 1);
    Atomics.add(this.words, this.base + PROGRESS, 1);
  }

  exit(): void {
    Atomics.sub(this.words, this.base + RUNNING, 1);
    Atomics.add(this.words, this.base + PROGRESS, 1);
  }

  /** The thread's event loop has turned. */
  beat(): void {
    Atomics.add(this.words, this.base + PROGRESS, 1);
  }

  /** Mark the step whose code this thread is about to execute (undefined: none). */
  setOnCpu(cell: number | undefined): void {
    Atomics.store(this.words, this.base + ON_CPU, cell === undefined ? NO_CELL : cell + 1);
  }

  onCpu(): number | undefined {
    const value = Atomics.load(this.words, this.base + ON_CPU);
    return value === NO_CELL ? undefined : value - 1;
  }
}
