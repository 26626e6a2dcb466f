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
 * never holds a thread. A release bumps the generation and wakes one waiter;
 * V8 wakes waiters in the order they began waiting. First come, first served
 * also needs newcomers not to take a slot while others wait for one —
 * otherwise a slot freed for a woken waiter goes to whoever asks first, and
 * an unlucky waiter can lose again and again. So the semaphore counts its
 * waiters, per thread: a thread that dies while waiting has its count taken
 * back by the main thread with the rest of what it held.
 */

/** Layout, in Int32 words: header, then one word per slot, then [owner, waiting] per thread. */
const GENERATION = 0;
const SLOT_COUNT = 1;
const FIRST_SLOT = 2;
const WAITER_OWNER = 0;
const WAITER_COUNT = 1;
const WORDS_PER_WAITER_ENTRY = 2;

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
  private readonly firstWaiterEntry: number;
  private readonly waiterEntries: number;
  /** Where this thread starts looking for a free slot; spreads threads over the slots. */
  private nextProbe = 0;

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    this.size = Atomics.load(this.words, SLOT_COUNT);
    this.firstWaiterEntry = FIRST_SLOT + this.size;
    this.waiterEntries = Math.floor((this.words.length - this.firstWaiterEntry) / WORDS_PER_WAITER_ENTRY);
  }

  /** `threads`: how many threads may wait at once, dying ones included (as for the tracker). */
  static create(slots: number, threads = 1): SlotSemaphore {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`slots must be a positive integer, got ${slots}`);
    const entries = threads * 4 + 4;
    const words = new Int32Array(new SharedArrayBuffer((FIRST_SLOT + slots + entries * WORDS_PER_WAITER_ENTRY) * Int32Array.BYTES_PER_ELEMENT));
    words[SLOT_COUNT] = slots;
    return new SlotSemaphore(words.buffer as SharedArrayBuffer);
  }

  /** Slots held right now (a snapshot: others may take or free slots meanwhile). */
  busy(): number {
    let held = 0;
    for (let i = 0; i < this.size; i++) if (Atomics.load(this.words, FIRST_SLOT + i) !== FREE) held++;
    return held;
  }

  /** Steps waiting for a slot right now, on every thread. */
  waiting(): number {
    let total = 0;
    for (let e = 0; e < this.waiterEntries; e++) total += Atomics.load(this.words, this.waiterEntry(e) + WAITER_COUNT);
    return total;
  }

  /**
   * Take a free slot for `owner` without waiting, whether or not others are
   * waiting. Returns the slot, or -1 if none is free.
   */
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
   * Take a slot for `owner`, first come first served, waiting as long as it
   * takes unless canceled. Resolves to the slot, or to -1 if `cancel` fired
   * first (then nothing is held). Waiting parks no thread: other tasks on it
   * keep running. Every wait ends, because the step's order has a deadline
   * that cancels it.
   */
  async acquire(owner: number, cancel: Cancellation): Promise<number> {
    if (cancel.isCanceled()) return -1;
    if (this.waiting() === 0) {
      const slot = this.tryAcquire(owner);
      if (slot >= 0) return slot;
    }
    const entry = this.joinWaiters(owner);
    try {
      let canceled: Promise<false> | undefined;
      for (let woken = false; ; ) {
        if (cancel.isCanceled()) {
          // Woken for a slot it will not take: the wake-up is the next waiter's.
          if (woken) Atomics.notify(this.words, GENERATION, 1);
          return -1;
        }
        // Read the generation before looking: a release between the look and
        // the wait changes it, and the wait then returns at once ('not-equal').
        const seen = Atomics.load(this.words, GENERATION);
        // A waiter that has not been woken yet takes a free slot only if it
        // is alone in the queue; otherwise the slot is someone else's turn.
        if (woken || this.waiting() === 1) {
          const slot = this.tryAcquire(owner);
          if (slot >= 0) return slot;
        }
        const wait = Atomics.waitAsync(this.words, GENERATION, seen);
        if (!wait.async) {
          woken = true;
          continue;
        }
        let abandoned = false;
        const released = wait.value.then(() => {
          // A release wakes exactly one waiter. If that is a waiter nobody
          // listens to any more, it must wake the next one in its place, or a
          // slot would stay free while others sleep.
          if (abandoned) Atomics.notify(this.words, GENERATION, 1);
          return true as const;
        });
        canceled ??= cancel.whenCanceled().then(() => false as const);
        woken = await Promise.race([released, canceled]);
        if (!woken) {
          abandoned = true;
          canceled = undefined;
        }
      }
    } finally {
      Atomics.sub(this.words, entry + WAITER_COUNT, 1);
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

  /**
   * Main thread, after `owner` has exited: free every slot it still held and
   * forget its waiters. Wakes every waiter, so that none sleeps on a slot or
   * a turn the dead thread will never pass on. Returns the slots freed.
   */
  releaseAllOwnedBy(owner: number): number {
    let freed = 0;
    for (let i = 0; i < this.size; i++) {
      if (Atomics.compareExchange(this.words, FIRST_SLOT + i, owner, FREE) === owner) freed++;
    }
    let forgotten = 0;
    for (let e = 0; e < this.waiterEntries; e++) {
      const entry = this.waiterEntry(e);
      if (Atomics.load(this.words, entry + WAITER_OWNER) !== owner) continue;
      forgotten = Atomics.exchange(this.words, entry + WAITER_COUNT, 0);
      Atomics.store(this.words, entry + WAITER_OWNER, 0);
    }
    if (freed > 0 || forgotten > 0) {
      Atomics.add(this.words, GENERATION, 1);
      Atomics.notify(this.words, GENERATION);
    }
    return freed;
  }

  /** Count one more waiter for `owner`, in its thread's entry (claimed on its first wait). */
  private joinWaiters(owner: number): number {
    let free = -1;
    for (let e = 0; e < this.waiterEntries; e++) {
      const entry = this.waiterEntry(e);
      const holder = Atomics.load(this.words, entry + WAITER_OWNER);
      if (holder === owner) {
        Atomics.add(this.words, entry + WAITER_COUNT, 1);
        return entry;
      }
      if (holder === 0 && free < 0) free = e;
    }
    for (let e = Math.max(free, 0); e < this.waiterEntries; e++) {
      const entry = this.waiterEntry(e);
      if (Atomics.compareExchange(this.words, entry + WAITER_OWNER, 0, owner) === 0) {
        Atomics.add(this.words, entry + WAITER_COUNT, 1);
        return entry;
      }
    }
    throw new Error(`no free waiter entry for thread ${owner} (${this.waiterEntries} entries)`);
  }

  private waiterEntry(index: number): number {
    return this.firstWaiterEntry + index * WORDS_PER_WAITER_ENTRY;
  }
}
