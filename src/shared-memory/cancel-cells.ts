/**
 * Cancel cells: one small record per step task in flight, in a SharedArrayBuffer
 * that every worker thread maps. This is how `ctx.Done()` crosses a thread:
 * the main thread turns an AbortSignal into a store + notify on the task's
 * cell, and the step, in its worker, waits on that same word with
 * `Atomics.waitAsync` — its delay as the timeout, so one wait is both the
 * timer and the cancellation (Go's `select { case <-timer.C: case <-ctx.Done(): }`).
 *
 * This module owns the layout. Both sides use `CancelCells`; only the main
 * thread uses `CancelCellAllocator`, which hands cells out and binds signals.
 */

/** Words of one cell, each an Int32. */
const STATE = 0; // LIVE or CANCELED; the futex word waiters sleep on
const PHASE = 1; // QUEUED, RUNNING or FINISHED: where the task is in its worker
const FAULT = 2; // 1 if the task's own code brought its thread down (the thread's last words)
const IGNORED = 3; // times the thread's cancellation watch found the task canceled and still running
const REQUESTS = 4; // what the task asked of its remote service, as bits its protocol defines; set before the request leaves
const ACTIVITY = 5; // what the step is doing on its thread (an index into STEP_ACTIVITIES), for whoever watches
const COURIER = 6; // courier slot + 1 the task holds (the last one taken), 0 when none, for whoever watches
const RETRIES = 7; // times the step called its dependency again after an unavailable answer, for whoever watches
const WORDS_PER_CELL = 8;

const LIVE = 0;
const CANCELED = 1;

const QUEUED = 0;
const RUNNING = 1;
const FINISHED = 2;

export type SleepResult = 'elapsed' | 'canceled';

/**
 * What a started step is doing, as its thread publishes it in the ACTIVITY
 * word: only the thread knows, and the main thread only reads it, to show
 * it. `running`: executing its own code, or waiting on something of its
 * own that the context cannot see; the others are the context's waits.
 */
export const STEP_ACTIVITIES = ['running', 'sleeping', 'computing', 'awaiting_courier'] as const;
export type StepActivity = (typeof STEP_ACTIVITIES)[number];
const ACTIVITY_CODES: Readonly<Record<StepActivity, number>> = {
  running: 0,
  sleeping: 1,
  computing: 2,
  awaiting_courier: 3,
};

const NO_COURIER = 0;

export class CancelCells {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  private readonly words: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    this.capacity = Math.floor(this.words.length / WORDS_PER_CELL);
  }

  static create(capacity: number): CancelCells {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`cell capacity must be a positive integer, got ${capacity}`);
    return new CancelCells(new SharedArrayBuffer(capacity * WORDS_PER_CELL * Int32Array.BYTES_PER_ELEMENT));
  }

  isCanceled(cell: number): boolean {
    return Atomics.load(this.words, this.at(cell, STATE)) !== LIVE;
  }

  hasStarted(cell: number): boolean {
    return Atomics.load(this.words, this.at(cell, PHASE)) !== QUEUED;
  }

  /** Where the task is in its worker, in one read: for whoever watches. */
  phaseOf(cell: number): 'queued' | 'running' | 'finished' {
    const phase = Atomics.load(this.words, this.at(cell, PHASE));
    return phase === QUEUED ? 'queued' : phase === RUNNING ? 'running' : 'finished';
  }

  /** The worker is done with the task; its report may still be on its way. */
  hasFinished(cell: number): boolean {
    return Atomics.load(this.words, this.at(cell, PHASE)) === FINISHED;
  }

  /** How many rounds of its thread's cancellation watch found the task canceled and still running. */
  timesIgnored(cell: number): number {
    return Atomics.load(this.words, this.at(cell, IGNORED));
  }

  /** Main thread: what the task recorded asking of its remote service (0: nothing). */
  requestsOf(cell: number): number {
    return Atomics.load(this.words, this.at(cell, REQUESTS));
  }

  /** Main thread: what the task last published doing (meaningful once it has started). */
  activityOf(cell: number): StepActivity {
    return STEP_ACTIVITIES[Atomics.load(this.words, this.at(cell, ACTIVITY))] ?? 'running';
  }

  /** Main thread: the courier slot the task holds, if any. */
  courierSlotOf(cell: number): number | undefined {
    const value = Atomics.load(this.words, this.at(cell, COURIER));
    return value === NO_COURIER ? undefined : value - 1;
  }

  /** Main thread: how many times the task has called its dependency again so far. */
  retriesOf(cell: number): number {
    return Atomics.load(this.words, this.at(cell, RETRIES));
  }

  isFaulted(cell: number): boolean {
    return Atomics.load(this.words, this.at(cell, FAULT)) !== 0;
  }

  /**
   * Main thread: cancel and wake every waiter on the cell (a sleeping step wakes at once). Returns how many waits on
   * the cell it woke: each is a wake-up posted to another thread.
   */
  cancel(cell: number): number {
    const word = this.at(cell, STATE);
    Atomics.store(this.words, word, CANCELED);
    return Atomics.notify(this.words, word);
  }

  /** Worker: the task has reached a thread. */
  markStarted(cell: number): void {
    Atomics.store(this.words, this.at(cell, PHASE), RUNNING);
  }

  /** Worker: the task has ended and its report is about to be posted. */
  markFinished(cell: number): void {
    Atomics.store(this.words, this.at(cell, PHASE), FINISHED);
  }

  /** Worker: the cancellation watch found this task canceled and still running. */
  noteIgnored(cell: number): void {
    Atomics.add(this.words, this.at(cell, IGNORED), 1);
  }

  /**
   * Worker: record a request to the task's remote service before sending it.
   * The word survives the thread, so the main thread learns of a request even
   * if the thread dies before the request is sent, or before it arrives.
   */
  noteRequest(cell: number, bits: number): void {
    Atomics.or(this.words, this.at(cell, REQUESTS), bits);
  }

  /** Worker: the task enters or leaves one of its context's waits. A plain store: it is only ever shown. */
  setActivity(cell: number, activity: StepActivity): void {
    Atomics.store(this.words, this.at(cell, ACTIVITY), ACTIVITY_CODES[activity]);
  }

  /** Worker: the task took courier `slot`, or (undefined) gave back the one it held. */
  setCourierSlot(cell: number, slot: number | undefined): void {
    Atomics.store(this.words, this.at(cell, COURIER), slot === undefined ? NO_COURIER : slot + 1);
  }

  /** Worker: the task is about to call its dependency again (after an unavailable answer). */
  noteRetry(cell: number): void {
    Atomics.add(this.words, this.at(cell, RETRIES), 1);
  }

  /** Worker, as its thread dies: this task's code is what killed it. */
  markFaulted(cell: number): void {
    Atomics.store(this.words, this.at(cell, FAULT), 1);
  }

  /**
   * Worker: sleep `ms` unless the cell is canceled first. Never blocks the
   * thread: other tasks on the same worker run while this one waits.
   */
  async sleep(cell: number, ms: number): Promise<SleepResult> {
    const word = this.at(cell, STATE);
    const deadline = performance.now() + ms;
    for (;;) {
      if (Atomics.load(this.words, word) !== LIVE) return 'canceled';
      const remaining = deadline - performance.now();
      if (remaining <= 0) return 'elapsed';
      const wait = Atomics.waitAsync(this.words, word, LIVE, remaining);
      const outcome = wait.async ? await wait.value : wait.value;
      if (outcome === 'timed-out') return 'elapsed';
      // 'ok' or 'not-equal': the word moved or someone notified; loop and look.
    }
  }

  /**
   * Worker: resolves once the cell is canceled. Pending waiters of a finished
   * task are woken when the main thread recycles its cell, so none lingers;
   * that wake-up is why callers look at `isCanceled` rather than trust it.
   */
  whenCanceled(cell: number): Promise<void> {
    const word = this.at(cell, STATE);
    const wait = Atomics.waitAsync(this.words, word, LIVE);
    return wait.async ? wait.value.then(() => undefined) : Promise.resolve();
  }

  /** Main thread: zero a cell for its next task and wake any waiter left on it. */
  reset(cell: number): void {
    const base = this.at(cell, 0);
    Atomics.store(this.words, base + PHASE, QUEUED);
    Atomics.store(this.words, base + FAULT, 0);
    Atomics.store(this.words, base + IGNORED, 0);
    Atomics.store(this.words, base + REQUESTS, 0);
    Atomics.store(this.words, base + ACTIVITY, ACTIVITY_CODES.running);
    Atomics.store(this.words, base + COURIER, NO_COURIER);
    Atomics.store(this.words, base + RETRIES, 0);
    Atomics.store(this.words, base + STATE, LIVE);
    Atomics.notify(this.words, base + STATE);
  }

  private at(cell: number, word: number): number {
    if (!Number.isInteger(cell) || cell < 0 || cell >= this.capacity) throw new RangeError(`no cancel cell ${cell}`);
    return cell * WORDS_PER_CELL + word;
  }
}

/**
 * Main thread: hands out cells and ties each to an AbortSignal. A cell is
 * given back only after its task has settled, so no worker can still be
 * reading it when it is reused.
 */
export class CancelCellAllocator {
  private readonly free: Int32Array;
  private freeCount: number;
  /** Every open cell, with the remover of its abort listener (null if the signal had already aborted). */
  private readonly open = new Map<number, (() => void) | null>();

  /**
   * `afterEveryCancel` runs after any cell is canceled: whatever else in shared memory must react to a cancellation at
   * once.
   */
  constructor(
    readonly cells: CancelCells,
    private readonly afterEveryCancel: () => void = () => {},
  ) {
    this.free = new Int32Array(cells.capacity);
    for (let i = 0; i < cells.capacity; i++) this.free[i] = cells.capacity - 1 - i;
    this.freeCount = cells.capacity;
  }

  get inUse(): number {
    return this.cells.capacity - this.freeCount;
  }

  /**
   * A fresh cell that is canceled when `signal` aborts (at once if it already
   * has), and then `onCanceled` is called. Returns undefined when every cell
   * is taken. One listener per cell: this runs for every step of every order.
   */
  take(signal: AbortSignal, onCanceled?: () => void): number | undefined {
    if (this.freeCount === 0) return undefined;
    const cell = this.free[--this.freeCount]!;
    const cancel = (): void => {
      this.cells.cancel(cell);
      this.afterEveryCancel();
      onCanceled?.();
    };
    if (signal.aborted) {
      cancel();
      this.open.set(cell, null);
    } else {
      signal.addEventListener('abort', cancel, { once: true });
      this.open.set(cell, () => signal.removeEventListener('abort', cancel));
    }
    return cell;
  }

  /** Give a cell back; its abort listener is removed whatever happened. */
  give(cell: number): void {
    const unbind = this.open.get(cell);
    if (unbind === undefined) throw new Error(`cancel cell ${cell} is not open`);
    unbind?.();
    this.open.delete(cell);
    this.cells.reset(cell);
    this.free[this.freeCount++] = cell;
  }

  /** Cells whose task has not reached a thread yet: steps waiting for a thread. */
  countNotStarted(): number {
    let waiting = 0;
    for (const cell of this.open.keys()) if (!this.cells.hasStarted(cell)) waiting++;
    return waiting;
  }
}
