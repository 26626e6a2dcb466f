/**
 * Cancel cells: one small record per step task in flight, in a SharedArrayBuffer that every worker thread maps. This is
 * how `ctx.Done()` crosses a thread: the main thread turns an order's cancellation into a store on the task's cell, and
 * notifies the word. A step waits for its delay, or for its module, on that word itself (`Atomics.waitAsync` with a
 * timeout): one wait is both the timer and `<-ctx.Done()`.
 *
 * The cell also says where its task is on its thread — queued, running, finished —, what it is doing (for the thread
 * view, and for the main thread's judgment of a step that outlives its cancellation), what it asked of its remote
 * service before the request left (so a request lost with its thread is still settled), and whether its code brought
 * its thread down.
 *
 * This module owns the layout. Both sides use `CancelCells`; only the main thread uses `CancelCellAllocator`, which
 * hands cells out and ties them to their order's signal.
 */

/** Words of one cell, each an Int32. */
const STATE = 0; // LIVE or CANCELED; the futex word waiters sleep on
const PHASE = 1; // QUEUED, RUNNING or FINISHED: where the task is in its worker
const FAULT = 2; // 1 if the task's own code brought its thread down (the thread's last words)
const REQUESTS = 3; // what the task asked of its remote service, as bits its protocol defines; set before the request leaves
const ACTIVITY = 4; // what the step is doing on its thread (an index into STEP_ACTIVITIES)
const COURIER = 5; // courier slot + 1 the task holds (the last one taken), 0 when none, for whoever watches
const RETRIES = 6; // times the step called its dependency again after an unavailable answer, for whoever watches
const COMPUTED = 7; // 1 once the task's CPU work is over, however it ended: its turn of thread time may go to another
const WORDS_PER_CELL = 8;

const LIVE = 0;
const CANCELED = 1;

const QUEUED = 0;
const RUNNING = 1;
const FINISHED = 2;

/**
 * What a started step is doing, as its thread publishes it in the ACTIVITY word: only the thread knows. `running`:
 * executing its own code, or waiting on something of its own that the context cannot see; the others are the context's
 * waits, each of which ends as soon as the step is canceled. The main thread shows it, and judges by it a step that
 * outlives its cancellation: one still `running` ignores it.
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
    const words = capacity * WORDS_PER_CELL;
    return new CancelCells(new SharedArrayBuffer(words * Int32Array.BYTES_PER_ELEMENT));
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
   * Any thread: cancel, and wake whoever waits on the cell (its step's sleep). False if it was canceled already: whoever
   * canceled it woke them.
   */
  cancel(cell: number): boolean {
    if (Atomics.exchange(this.words, this.at(cell, STATE), CANCELED) !== LIVE) return false;
    Atomics.notify(this.words, this.at(cell, STATE));
    return true;
  }

  /** Worker: the task has reached its thread. */
  markStarted(cell: number): void {
    Atomics.store(this.words, this.at(cell, PHASE), RUNNING);
  }

  /**
   * Worker: wait `ms` (Infinity: for as long as it takes) for the cell to be canceled. Resolves true if it is, at once if
   * it is already; false once `ms` has passed — never before: a delay stands for a dependency's latency, and a sleep
   * that ends early flatters every figure measured against it. The one wait a step's sleep is: no timer of its own.
   */
  waitCanceled(cell: number, ms: number): Promise<boolean> {
    return this.waitUntil(this.at(cell, STATE), performance.now() + ms);
  }

  /** Not an async function: a step asleep holds the wait's promise and one reaction, no frame of this. */
  private waitUntil(word: number, until: number): Promise<boolean> {
    const left = until - performance.now();
    if (left <= 0) return Promise.resolve(false);
    // Whole milliseconds, rounded up: a wait's timeout is counted in whole ones, and a wait of 1 ms was seen to end in
    // 0.01 ms (6 of 2,000 here), one of a fraction at once.
    const wait = Atomics.waitAsync(this.words, word, LIVE, left === Infinity ? undefined : Math.ceil(left));
    if (!wait.async) return Promise.resolve(wait.value !== 'timed-out');
    return wait.value.then((outcome) => outcome !== 'timed-out' || this.waitUntil(word, until));
  }

  /** Worker: the task has ended and its report is about to be posted. */
  markFinished(cell: number): void {
    Atomics.store(this.words, this.at(cell, PHASE), FINISHED);
  }

  /**
   * Worker: record a request to the task's remote service before sending it. The word survives the thread, so the main
   * thread learns of a request even if the thread dies before the request is sent, or before it arrives.
   */
  noteRequest(cell: number, bits: number): void {
    Atomics.or(this.words, this.at(cell, REQUESTS), bits);
  }

  /** Worker: the task enters or leaves one of its context's waits. A plain store: it is only ever shown. */
  setActivity(cell: number, activity: StepActivity): void {
    Atomics.store(this.words, this.at(cell, ACTIVITY), ACTIVITY_CODES[activity]);
  }

  /** Worker: the task's CPU work is over (done, failed or canceled); it computes no more. */
  markComputed(cell: number): void {
    Atomics.store(this.words, this.at(cell, COMPUTED), 1);
  }

  /** Main thread: whether the task's CPU work is over, before its report may have come. */
  hasComputed(cell: number): boolean {
    return Atomics.load(this.words, this.at(cell, COMPUTED)) === 1;
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

  /** Any thread: resolves once the cell is canceled (at once if it is), for code that waits for nothing else. */
  whenCanceled(cell: number): Promise<void> {
    return this.waitCanceled(cell, Infinity).then(() => undefined);
  }

  /** Main thread: zero a cell for its next task. */
  reset(cell: number): void {
    const base = this.at(cell, 0);
    Atomics.store(this.words, base + PHASE, QUEUED);
    Atomics.store(this.words, base + FAULT, 0);
    Atomics.store(this.words, base + REQUESTS, 0);
    Atomics.store(this.words, base + ACTIVITY, ACTIVITY_CODES.running);
    Atomics.store(this.words, base + COURIER, NO_COURIER);
    Atomics.store(this.words, base + RETRIES, 0);
    Atomics.store(this.words, base + COMPUTED, 0);
    Atomics.store(this.words, base + STATE, LIVE);
  }

  private at(cell: number, word: number): number {
    if (!Number.isInteger(cell) || cell < 0 || cell >= this.capacity) throw new RangeError(`no cancel cell ${cell}`);
    return cell * WORDS_PER_CELL + word;
  }
}

/** Told when the cell it holds is canceled (its signal aborted), after the cell itself. */
export interface CellHolder {
  cellCanceled(): void;
}

const ONCE = { once: true } as const;

/**
 * What a cell is tied to: an AbortSignal, or anything that aborts as one does (an order's record on the main thread,
 * src/pipeline/order-in-flight.ts), calling its listener with itself as `this`.
 */
export interface AbortingSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: (this: never) => void, options?: { readonly once?: boolean }): void;
  removeEventListener(type: 'abort', listener: (this: never) => void): void;
}

/** On a signal with open cells: the first of its ties (each links to the next). */
const TIES = Symbol('cancel cells tied to this signal');
type TiedSignal = AbortingSignal & { [TIES]?: CellTie | undefined };

/**
 * What ties one cell to its task's signal: made the first time the cell is taken, and the same for every task after.
 * The ties on one signal — an order's steps — are a list the signal holds, and the signal has one listener for all of
 * them (`signalAborted`, a function made once): Node's EventTarget keeps a `Listener` object for each registration, and
 * adding and removing one is most of what tying a cell costs: one an order, not one a step.
 */
class CellTie {
  /** Its cell is taken, by a task not yet settled. */
  open = false;
  /** The signal it listens to while its cell is open, until it aborts. */
  signal: TiedSignal | undefined;
  holder: CellHolder | undefined;
  /** Its neighbours on its signal's list. */
  before: CellTie | undefined;
  after: CellTie | undefined;

  constructor(
    readonly allocator: CancelCellAllocator,
    readonly cell: number,
  ) {}

  /** Onto `signal`'s list; the first tie on it adds the signal's one listener. */
  tie(signal: TiedSignal): void {
    const first = signal[TIES];
    this.signal = signal;
    this.before = undefined;
    this.after = first;
    if (first) first.before = this;
    else signal.addEventListener('abort', signalAborted, ONCE);
    signal[TIES] = this;
  }

  /** Off its signal's list; the last tie off it removes the signal's listener. */
  untie(): void {
    const { signal, before, after } = this;
    if (signal === undefined) return;
    if (before) before.after = after;
    else signal[TIES] = after;
    if (after) after.before = before;
    this.signal = this.before = this.after = undefined;
    if (signal[TIES] === undefined) signal.removeEventListener('abort', signalAborted);
  }
}

/** A signal with open cells aborted (`this`): every one of them is canceled, in the order they were tied. */
function signalAborted(this: TiedSignal): void {
  // Every tie comes off the list before any cell is canceled: a holder told of its cell may give cells back.
  const tied: CellTie[] = [];
  for (let tie = this[TIES]; tie !== undefined; tie = tie.after) tied.push(tie);
  this[TIES] = undefined;
  for (const tie of tied) tie.signal = tie.before = tie.after = undefined;
  for (let i = tied.length - 1; i >= 0; i--) tied[i]!.allocator.canceled(tied[i]!.cell, tied[i]!.holder);
}

/**
 * Main thread: hands out cells and ties each to a signal. A cell is given back only after its task has settled, so no
 * worker can still be reading it when it is reused.
 *
 * A cell is canceled (and its sleeper woken) the moment its signal aborts; `afterEveryCancel` (the courier dispatchers'
 * wake) runs once at the end of the turn, for all of that turn's cancellations: a wave of orders timing out together
 * wakes the dispatchers once a turn, not once a cell.
 */
export class CancelCellAllocator {
  private readonly free: Int32Array;
  private freeCount: number;
  /** Each cell's tie once it has been taken: kept for its next tasks (a table by cell: no Map churned per step). */
  private readonly ties: Array<CellTie | undefined>;
  private waking = false;

  /**
   * `afterEveryCancel` runs at the end of every turn in which a cell was canceled: whatever else in shared memory must
   * react to the cancellations, once for all of them.
   */
  constructor(
    readonly cells: CancelCells,
    private readonly afterEveryCancel: () => void = () => {},
  ) {
    this.ties = new Array<CellTie | undefined>(cells.capacity);
    this.free = new Int32Array(cells.capacity);
    for (let i = 0; i < cells.capacity; i++) this.free[i] = cells.capacity - 1 - i;
    this.freeCount = cells.capacity;
  }

  get inUse(): number {
    return this.cells.capacity - this.freeCount;
  }

  /**
   * A fresh cell that is canceled when `signal` aborts (at once if it already has), and then its `holder` is told.
   * Returns undefined when every cell is taken. This runs for every step of every order: the cell's listener is kept
   * with the cell, not made for the task.
   */
  take(signal: AbortingSignal, holder?: CellHolder): number | undefined {
    if (this.freeCount === 0) return undefined;
    const cell = this.free[--this.freeCount]!;
    const tie = (this.ties[cell] ??= new CellTie(this, cell));
    tie.holder = holder;
    tie.open = true;
    if (signal.aborted) this.canceled(cell, holder);
    else tie.tie(signal);
    return cell;
  }

  /** Give a cell back; its abort listener is removed whatever happened. */
  give(cell: number): void {
    const tie = this.ties[cell];
    if (!tie?.open) throw new Error(`cancel cell ${cell} is not open`);
    tie.untie();
    tie.holder = undefined;
    tie.open = false;
    this.cells.reset(cell);
    this.free[this.freeCount++] = cell;
  }

  /** An open cell's signal aborted. */
  canceled(cell: number, holder: CellHolder | undefined): void {
    if (this.cells.cancel(cell) && !this.waking) {
      this.waking = true;
      queueMicrotask(this.wakeAfterCancels);
    }
    holder?.cellCanceled();
  }

  private readonly wakeAfterCancels = (): void => {
    this.waking = false;
    this.afterEveryCancel();
  };

  /** Cells whose task has not reached a thread yet: steps waiting for a thread. */
  countNotStarted(): number {
    let waiting = 0;
    for (const tie of this.ties) if (tie?.open && !this.cells.hasStarted(tie.cell)) waiting++;
    return waiting;
  }
}
