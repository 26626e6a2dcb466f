/**
 * Cancel cells: one small record per step task in flight, in a SharedArrayBuffer that every worker thread maps. This is
 * how `ctx.Done()` crosses a thread: the main thread turns an AbortSignal into a store on the task's cell, and then
 * rings the bell of the thread the task runs on.
 *
 * A bell is one word per thread that says "look at your cells". A thread keeps one `Atomics.waitAsync` on its own bell,
 * whatever number of steps it runs, and on a ring looks at the cells of the steps it holds asleep or watched
 * (workers/thread-timers.ts). A step waits on no word of its own: a wait per step was a promise, a native wait node
 * under a process-wide lock and a libuv timer each. Rings coalesce: the first cancellation since the thread last looked
 * notifies it; the ones after find the bell already rung and leave it be, so a thread is woken at most once per look,
 * and never while it is about to look anyway.
 *
 * A step that fails on a thread cancels its order's other steps on that thread itself (workers/step-runtime.ts,
 * `cancelSiblings`), as errgroup's failing goroutine cancels the context: it marks their cells and looks at them at
 * once, ringing nothing. Whoever cancels a cell first wakes whoever must hear of it, so the main thread, canceling the
 * same cells once it reads the failure, rings no bell for them.
 *
 * Which bell: a task's thread writes its bell in the cell's HOST word as it starts the task, and then looks at the
 * cell's STATE; the main thread writes STATE, then reads HOST. Atomics are sequentially consistent, so one of the two
 * sees the other: a cancellation before the start is seen by the thread, one after it rings the bell.
 *
 * This module owns the layout: the cells, then the bells. Both sides use `CancelCells`; only the main thread uses
 * `CancelCellAllocator`, which hands cells out and binds signals.
 */
import { IndexTable } from './index-table.js';

/** Words of one cell, each an Int32. */
const STATE = 0; // LIVE or CANCELED; the futex word waiters sleep on
const PHASE = 1; // QUEUED, RUNNING or FINISHED: where the task is in its worker
const FAULT = 2; // 1 if the task's own code brought its thread down (the thread's last words)
const IGNORED = 3; // times the thread's cancellation watch found the task canceled and still running
const REQUESTS = 4; // what the task asked of its remote service, as bits its protocol defines; set before the request leaves
const ACTIVITY = 5; // what the step is doing on its thread (an index into STEP_ACTIVITIES), for whoever watches
const COURIER = 6; // courier slot + 1 the task holds (the last one taken), 0 when none, for whoever watches
const RETRIES = 7; // times the step called its dependency again after an unavailable answer, for whoever watches
const HOST = 8; // bell + 1 of the thread the task runs on, 0 before it starts
const COMPUTED = 9; // 1 once the task's CPU work is over, however it ended: its turn of thread time may go to another
const WORDS_PER_CELL = 10;

/**
 * Bells after the cells, one per tracker shard (a thread's bell is its shard's index, StepTracker): the tracker holds
 * at most 4 × 256 + 4 shards (THREADS is at most 256).
 */
export const THREAD_BELLS = 1028;
const QUIET = 0;
const RUNG = 1;
const NO_HOST = 0;

const LIVE = 0;
const CANCELED = 1;

const QUEUED = 0;
const RUNNING = 1;
const FINISHED = 2;

/**
 * What a started step is doing, as its thread publishes it in the ACTIVITY word: only the thread knows, and the main
 * thread only reads it, to show it. `running`: executing its own code, or waiting on something of its own that the
 * context cannot see; the others are the context's waits.
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

  /** Where the bells begin. */
  private readonly bells: number;

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    this.capacity = Math.floor((this.words.length - THREAD_BELLS) / WORDS_PER_CELL);
    this.bells = this.capacity * WORDS_PER_CELL;
  }

  static create(capacity: number): CancelCells {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`cell capacity must be a positive integer, got ${capacity}`);
    const words = capacity * WORDS_PER_CELL + THREAD_BELLS;
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
   * Main thread: cancel, ring the bell of the task's thread if it has started, and wake whoever waits on the cell
   * itself (`whenCanceled`). Returns how many waits it woke: each is a wake-up posted to another thread. A cell
   * canceled already wakes no one again: whoever canceled it did.
   */
  cancel(cell: number): number {
    if (!this.markCanceled(cell)) return 0;
    const bell = this.hostBellOf(cell);
    return (bell === undefined ? 0 : this.ring(bell)) + this.wakeCellWaiters(cell);
  }

  /**
   * Any thread: cancel, waking no one; true if this call canceled it, false if it was canceled already. Who cancels
   * first wakes whoever must hear of it: the main thread rings the task's thread (`hostBellOf`) and the cell's own
   * waits; a step's thread canceling its failed step's siblings on itself (workers/step-runtime.ts) looks at its own
   * sleepers at once, so a later cancellation by the main thread need ring no bell.
   */
  markCanceled(cell: number): boolean {
    return Atomics.exchange(this.words, this.at(cell, STATE), CANCELED) === LIVE;
  }

  /**
   * Main thread: the bell of the thread the task runs on, if it has started (undefined: none; a thread that starts the
   * task from now on sees a cancellation itself). Read it after canceling: see the top of the file.
   */
  hostBellOf(cell: number): number | undefined {
    const host = Atomics.load(this.words, this.at(cell, HOST));
    return host === NO_HOST ? undefined : host - 1;
  }

  /** Main thread: wake the waits on the cell itself (`whenCanceled`); how many it woke. */
  wakeCellWaiters(cell: number): number {
    return Atomics.notify(this.words, this.at(cell, STATE));
  }

  /**
   * Worker: the task has reached a thread, whose bell is `bell` (undefined: none — nobody is told of its cancellation,
   * the thread must look). Look at `isCanceled` after this, never before: see the top of the file.
   */
  markStarted(cell: number, bell?: number): void {
    const base = this.at(cell, 0);
    if (bell !== undefined) Atomics.store(this.words, base + HOST, this.bellAt(bell) - this.bells + 1); // bell + 1, checked
    Atomics.store(this.words, base + PHASE, RUNNING);
  }

  /** Ring a thread's bell, unless it is rung already; returns 1 if that woke the thread's wait on it. */
  ring(bell: number): number {
    const word = this.bellAt(bell);
    if (Atomics.compareExchange(this.words, word, QUIET, RUNG) !== QUIET) return 0;
    // Two: the thread's one `waitAsync`, and the thread itself if it is blocked in `sleepOnBell`.
    return Atomics.notify(this.words, word, 2) > 0 ? 1 : 0;
  }

  /**
   * Worker: wait for the thread's bell (the one wait of the thread's timer list). Quiet it first, then look at its
   * cells: a ring after the quieting wakes the next wait.
   */
  waitForBell(bell: number): ReturnType<typeof Atomics.waitAsync> {
    return Atomics.waitAsync(this.words, this.bellAt(bell), QUIET);
  }

  /**
   * Worker: block the thread for up to `ms`, or until its bell rings (at once if it is rung). For the last fraction of
   * a millisecond of a sleep, which Node's timers, counting whole milliseconds, cannot time (workers/thread-timers.ts).
   */
  sleepOnBell(bell: number, ms: number): void {
    Atomics.wait(this.words, this.bellAt(bell), QUIET, ms);
  }

  /** Worker: the thread is about to look at its cells; a cancellation from now on rings again. */
  quietBell(bell: number): void {
    Atomics.store(this.words, this.bellAt(bell), QUIET);
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

  /**
   * Any thread: resolves once the cell is canceled — a wait of its own on the cell, for code that runs outside a step
   * runtime (its steps use their thread's bell). Recycling a cell wakes no one: a wait on a cell that is never canceled
   * stays pending (it keeps no event loop alive).
   */
  whenCanceled(cell: number): Promise<void> {
    const word = this.at(cell, STATE);
    const wait = Atomics.waitAsync(this.words, word, LIVE);
    return wait.async ? wait.value.then(() => undefined) : Promise.resolve();
  }

  /** Main thread: zero a cell for its next task. */
  reset(cell: number): void {
    const base = this.at(cell, 0);
    Atomics.store(this.words, base + HOST, NO_HOST);
    Atomics.store(this.words, base + PHASE, QUEUED);
    Atomics.store(this.words, base + FAULT, 0);
    Atomics.store(this.words, base + IGNORED, 0);
    Atomics.store(this.words, base + REQUESTS, 0);
    Atomics.store(this.words, base + ACTIVITY, ACTIVITY_CODES.running);
    Atomics.store(this.words, base + COURIER, NO_COURIER);
    Atomics.store(this.words, base + RETRIES, 0);
    Atomics.store(this.words, base + COMPUTED, 0);
    Atomics.store(this.words, base + STATE, LIVE);
  }

  private bellAt(bell: number): number {
    if (!Number.isInteger(bell) || bell < 0 || bell >= THREAD_BELLS) throw new RangeError(`no thread bell ${bell}`);
    return this.bells + bell;
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
 * Its cancellations wake each thread at most once a turn: a cell is marked canceled at once (a thread looking sees it),
 * and the bells of the threads that run canceled tasks, and `afterEveryCancel`, are rung at the end of the turn (a
 * microtask), once for all of that turn's cancellations. A bell's own flag keeps a turn's rings to one while its
 * thread has not looked; `afterEveryCancel` (the courier dispatchers' wake) has no such flag, so it too waits for the
 * turn's end: a wave of orders timing out together wakes the dispatchers once a turn, not once a cell.
 */
export class CancelCellAllocator {
  private readonly free: Int32Array;
  private freeCount: number;
  /** Every open cell's tie: a table by cell, not a Map (index-table.ts says why). */
  private readonly open: IndexTable<CellTie>;
  /** Each cell's tie once it has been taken: kept for its next tasks. */
  private readonly ties: Array<CellTie | undefined>;
  /** Bells to ring at the end of this turn, each once. */
  private readonly bellsToRing = new Set<number>();
  private ringing = false;

  /**
   * `afterEveryCancel` runs at the end of every turn in which a cell was canceled: whatever else in shared memory must
   * react to the cancellations, once for all of them.
   */
  constructor(
    readonly cells: CancelCells,
    private readonly afterEveryCancel: () => void = () => {},
  ) {
    this.open = new IndexTable(cells.capacity);
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
    this.open.set(cell, tie);
    if (signal.aborted) this.canceled(cell, holder);
    else tie.tie(signal);
    return cell;
  }

  /** Give a cell back; its abort listener is removed whatever happened. */
  give(cell: number): void {
    const tie = this.open.get(cell);
    if (tie === undefined) throw new Error(`cancel cell ${cell} is not open`);
    tie.untie();
    tie.holder = undefined;
    this.open.delete(cell);
    this.cells.reset(cell);
    this.free[this.freeCount++] = cell;
  }

  /** An open cell's signal aborted. */
  canceled(cell: number, holder: CellHolder | undefined): void {
    // Canceled already by its thread, as a sibling of a step that failed there: that thread has looked at it.
    if (this.cells.markCanceled(cell)) {
      // Read now, not at the end of the turn: by then the cell may be another task's.
      const bell = this.cells.hostBellOf(cell);
      if (bell !== undefined) this.bellsToRing.add(bell);
      this.cells.wakeCellWaiters(cell);
      if (!this.ringing) {
        this.ringing = true;
        queueMicrotask(this.ringBells);
      }
    }
    holder?.cellCanceled();
  }

  private readonly ringBells = (): void => {
    this.ringing = false;
    for (const bell of this.bellsToRing) this.cells.ring(bell);
    this.bellsToRing.clear();
    this.afterEveryCancel();
  };

  /** Cells whose task has not reached a thread yet: steps waiting for a thread. */
  countNotStarted(): number {
    let waiting = 0;
    this.open.forEach((_, cell) => {
      if (!this.cells.hasStarted(cell)) waiting++;
    });
    return waiting;
  }
}
