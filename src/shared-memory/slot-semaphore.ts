/**
 * A counting semaphore in a SharedArrayBuffer, shared by every worker thread:
 * the courier pool (Go's channel semaphore, `make(chan struct{}, 5)`).
 *
 * Each slot is a word holding its owner's threadId (0 when free), taken with
 * one compareExchange. Recording the owner in the same atomic step that takes
 * the slot is what makes recovery exact: when a thread dies holding slots —
 * and a terminated thread runs no `finally` — the main thread frees exactly
 * the slots that name it.
 *
 * Waiters sleep on GENERATION with `Atomics.waitAsync`, so waiting for a slot
 * never holds a thread. A release bumps the generation and wakes one waiter.
 */

/** Word 0 is the generation; words 1..size are the slots. */
const GENERATION = 0;
const FIRST_SLOT = 1;

const FREE = 0;

/** How a waiter learns that its step was canceled (in workers: the step's cancel cell). */
export interface Cancellation {
  isCanceled(): boolean;
  /** Resolves when the step may have been canceled; callers look at isCanceled(). */
  whenCanceled(): Promise<void>;
}

export class SlotSemaphore {
  readonly buffer: SharedArrayBuffer;
  readonly size: number;
  private readonly words: Int32Array;
  /** Where this thread starts looking for a free slot; spreads threads over the slots. */
  private nextProbe = 0;

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    this.size = this.words.length - FIRST_SLOT;
  }

  static create(slots: number): SlotSemaphore {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`slots must be a positive integer, got ${slots}`);
    return new SlotSemaphore(new SharedArrayBuffer((FIRST_SLOT + slots) * Int32Array.BYTES_PER_ELEMENT));
  }

  /** Slots held right now (a snapshot: others may take or free slots meanwhile). */
  busy(): number {
    let held = 0;
    for (let i = 0; i < this.size; i++) if (Atomics.load(this.words, FIRST_SLOT + i) !== FREE) held++;
    return held;
  }

  /** Take a free slot for `owner` without waiting. Returns the slot, or -1 if none is free. */
  tryAcquire(owner: number): number {
    if (!Number.isInteger(owner) || owner <= 0) throw new RangeError(`owner must be a positive threadId, got ${owner}`);
    for (let n = 0; n < this.size; n++) {
      const slot = (this.nextProbe + n) % this.size;
      if (Atomics.load(this.words, FIRST_SLOT + slot) !== FREE) continue;
      if (Atomics.compareExchange(this.words, FIRST_SLOT + slot, FREE, owner) === FREE) {
        this.nextProbe = (slot + 1) % this.size;
        return slot;
      }
    }
    return -1;
  }

  /**
   * Take a slot for `owner`, waiting as long as it takes unless canceled.
   * Resolves to the slot, or to -1 if `cancel` fired first (then nothing is
   * held). Waiting parks no thread: other tasks on it keep running. Every
   * wait ends, because the step's order has a deadline that cancels it.
   */
  async acquire(owner: number, cancel: Cancellation): Promise<number> {
    let canceled: Promise<false> | undefined;
    for (;;) {
      if (cancel.isCanceled()) return -1;
      // Read the generation before looking: a release between the look and
      // the wait changes it, and the wait then returns at once ('not-equal').
      const seen = Atomics.load(this.words, GENERATION);
      const slot = this.tryAcquire(owner);
      if (slot >= 0) return slot;
      const wait = Atomics.waitAsync(this.words, GENERATION, seen);
      if (!wait.async) continue;
      let abandoned = false;
      const released = wait.value.then(() => {
        // A release wakes exactly one waiter. If that is a waiter nobody
        // listens to any more, it must wake the next one in its place, or a
        // slot would stay free while others sleep.
        if (abandoned) Atomics.notify(this.words, GENERATION, 1);
        return true as const;
      });
      canceled ??= cancel.whenCanceled().then(() => false as const);
      if (!(await Promise.race([released, canceled]))) {
        abandoned = true;
        canceled = undefined;
      }
    }
  }

  /**
   * Give back a slot held by `owner` and wake one waiter. Returns false if
   * the slot was not `owner`'s (already freed, e.g. by the main thread after
   * the owner was declared dead).
   */
  release(slot: number, owner: number): boolean {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.size) throw new RangeError(`no slot ${slot}`);
    if (Atomics.compareExchange(this.words, FIRST_SLOT + slot, owner, FREE) !== owner) return false;
    Atomics.add(this.words, GENERATION, 1);
    Atomics.notify(this.words, GENERATION, 1);
    return true;
  }

  /** Main thread, after `owner` has exited: free every slot it still held. Returns how many. */
  releaseAllOwnedBy(owner: number): number {
    let freed = 0;
    for (let i = 0; i < this.size; i++) {
      if (Atomics.compareExchange(this.words, FIRST_SLOT + i, owner, FREE) === owner) freed++;
    }
    if (freed > 0) {
      Atomics.add(this.words, GENERATION, 1);
      Atomics.notify(this.words, GENERATION, freed);
    }
    return freed;
  }
}
