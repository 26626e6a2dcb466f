/**
 * The thread's own timer list: every step asleep on this thread is one record in a binary heap ordered by deadline,
 * under one timer armed for the earliest. Cancellation reaches the sleepers through the thread's bell
 * (src/shared-memory/cancel-cells.ts): one `Atomics.waitAsync` per thread, not one per sleeping step; on a ring the
 * thread looks at the cells of its sleepers and of its watchers (a step's AbortSignal, a module load) and ends the
 * waits of those canceled, and tells its cancellation watch that it looked (`BellFollower`).
 *
 * A sleeper checks its cell as it lies down: a cancellation before that is seen there, one after it rings the bell,
 * which the thread only answers in a later task of its event loop, by when the record is in the list.
 *
 * Sleepers due together are woken one per microtask, each after the last one's step has run on to its next wait: a wake
 * sets the thread's on-CPU marker for its step (the culprit, should that step then hang the thread), and the marker
 * must name the step whose code runs.
 *
 * Every wake beats the thread's progress count. Thousands of sleepers fall due together under load, and waking them all
 * is one task of the event loop: long enough, on a busy machine, for the main thread to find the count standing still
 * for its whole grace period and terminate a thread that was only busy (seen in the load suite's `wide` scenario, 9,000
 * steps on one thread, most of which wake to a ledger request and no exit).
 */
import type { CancelCells } from '../src/shared-memory/cancel-cells.js';

/**
 * A step asleep: ended by its due time or by its cell's cancellation, whichever comes first. A record its owner makes
 * (`sleepRecord`): a planned step's whole task is one (workers/task-run.ts), so that a step asleep is that record here.
 */
export interface Sleeper {
  readonly cell: number;
  /** When it is due, on this thread's clock: set by `sleepRecord`. */
  dueAt: number;
  /** Its place in the heap, -1 once out of it: set by `sleepRecord`. */
  heapAt: number;
  woke(canceled: boolean): void;
}

/**
 * Whoever must hear of every look at the cells — the bell rang, or the thread canceled cells itself — though nothing of
 * it sleeps or watches here: the thread's cancellation watch (cancellation-watch.ts). The thread listens to its bell
 * for it while it `wantsBell`.
 */
export interface BellFollower {
  readonly wantsBell: boolean;
  looked(): void;
}

/** The sleeper of code that has a callback to call. */
class CallbackSleeper implements Sleeper {
  dueAt = 0;
  heapAt = -1;
  constructor(
    readonly cell: number,
    readonly woke: (canceled: boolean) => void,
  ) {}
}

/**
 * Node's timers count whole milliseconds from the time the current turn of the event loop began, so a timer can fire
 * before its delay has passed by the clock (one set 3 ms into a turn for 1 ms is due at once), or up to a millisecond
 * after. A sleeper is woken only once its deadline has passed by `performance.now()`: late, never early, as Go's
 * `time.Sleep` is: a step's delay stands for a dependency's latency, and ended early it would flatter every figure
 * measured against it.
 *
 * How late is the thread's to say, not the timer's. The timer is aimed FINISH_WITHIN_MS before the earliest deadline,
 * and the last fraction of a millisecond is waited out by the thread itself, blocked on its bell (`sleepOnBell`), once
 * the turn's reports have left. Left to the timer's next firing, a step would end up to a millisecond late, and each
 * courier step would hold its slot that much longer: the rate of every courier-bound load is set by it
 * (docs/decisions/an-order-in-flight.md). Blocked, the thread answers its bell (a
 * cancellation) at once, and anything else — a batch, a courier's wake, a message of the pool — once the wait is over:
 * under a millisecond later. A step thread may block; the main thread runs no timer list.
 */
const TIMER_GRAIN_MS = 1;
/** A sleep with less than this left is finished by the thread blocked, not by a timer. */
const FINISH_WITHIN_MS = 1;

export class ThreadTimers {
  private readonly heap: Sleeper[] = [];
  private readonly watchers = new Set<{ readonly cell: number; readonly onCanceled: () => void }>();
  private timer: NodeJS.Timeout | undefined;
  /** The deadline the timer is armed for (Infinity: none). */
  private armedFor = Infinity;
  private listening = false;
  /** Sleepers to wake, one per microtask, from `wakingAt` on. */
  private waking: Array<{ readonly sleeper: Sleeper; readonly canceled: boolean }> = [];
  private wakingAt = 0;
  private draining = false;
  /** A precise finish of the earliest sleep is queued (`finish`). */
  private finishing = false;
  private follower: BellFollower | undefined;

  constructor(
    private readonly cells: CancelCells,
    private readonly bell: number,
    /** Called on every wake: a thread waking its steps is making progress. */
    private readonly beat: () => void,
  ) {}

  /**
   * Sleep `ms` on `cell`: `wake(false)` once they have passed, `wake(true)` as soon as the cell is canceled
   * (synchronously, if it already is).
   */
  sleep(cell: number, ms: number, wake: (canceled: boolean) => void): void {
    this.sleepRecord(new CallbackSleeper(cell, wake), ms);
  }

  /** As `sleep`, for a record that is its own sleeper: `sleeper.woke` is called as `sleep`'s `wake` would be. */
  sleepRecord(sleeper: Sleeper, ms: number): void {
    if (this.cells.isCanceled(sleeper.cell)) return sleeper.woke(true);
    if (ms <= 0) return sleeper.woke(false);
    const now = performance.now();
    sleeper.dueAt = now + ms;
    sleeper.heapAt = this.heap.length;
    this.heap.push(sleeper);
    this.siftUp(sleeper.heapAt);
    this.listen();
    if (this.heap[0] === sleeper) this.schedule(now);
  }

  /** Call `onCanceled` once, when `cell` is canceled (at once, if it is). Returns the remover of the watch. */
  watch(cell: number, onCanceled: () => void): () => void {
    if (this.cells.isCanceled(cell)) {
      onCanceled();
      return () => {};
    }
    const watcher = { cell, onCanceled };
    this.watchers.add(watcher);
    this.listen();
    return () => this.watchers.delete(watcher);
  }

  /** Tell `follower` of every look at the cells, and listen to the bell while it wants it (`listenForFollower`). */
  follow(follower: BellFollower): void {
    this.follower = follower;
  }

  /** The follower wants the bell now: listened to, if it is not already. */
  listenForFollower(): void {
    this.listen();
  }

  /** How many steps sleep on this thread. */
  get sleeping(): number {
    return this.heap.length;
  }

  private listen(): void {
    if (this.listening) return;
    this.listening = true;
    for (;;) {
      const wait = this.cells.waitForBell(this.bell);
      if (wait.async) {
        void wait.value.then(this.onRing);
        return;
      }
      this.lookAtCells();
    }
  }

  private readonly onRing = (): void => {
    this.listening = false;
    this.lookAtCells();
    if (this.heap.length > 0 || this.watchers.size > 0 || this.follower?.wantsBell) this.listen();
  };

  /**
   * Wake now whatever this thread canceled itself (a failed step's siblings, workers/step-runtime.ts): no bell was rung
   * for them, the thread knowing already. The bell is left as it is, for whatever the main thread rang it for.
   */
  lookNow(): void {
    this.wakeCanceled();
    this.follower?.looked();
  }

  private lookAtCells(): void {
    this.cells.quietBell(this.bell);
    this.wakeCanceled();
    this.follower?.looked();
  }

  private wakeCanceled(): void {
    // Taken out first, woken after: the heap moves as records leave it.
    const canceled = this.heap.filter((sleeper) => this.cells.isCanceled(sleeper.cell));
    for (const sleeper of canceled) this.remove(sleeper);
    for (const sleeper of canceled) this.wakeInTurn(sleeper, true);
    for (const watcher of this.watchers) {
      if (!this.cells.isCanceled(watcher.cell)) continue;
      this.watchers.delete(watcher);
      watcher.onCanceled();
    }
    if (this.heap.length === 0) this.disarm();
  }

  /** Time the earliest sleep: by a timer, or, with less than FINISH_WITHIN_MS of it left, by `finish`. */
  private schedule(now: number): void {
    const next = this.heap[0];
    if (next === undefined) return;
    if (next.dueAt - now < FINISH_WITHIN_MS) return this.finishAfterTurn();
    if (next.dueAt < this.armedFor) this.arm(next.dueAt, now);
  }

  private arm(deadline: number, now: number): void {
    clearTimeout(this.timer);
    this.armedFor = deadline;
    // Aimed early: the rest is `finish`'s.
    this.timer = setTimeout(this.onTimer, Math.max(TIMER_GRAIN_MS, Math.ceil(deadline - now - FINISH_WITHIN_MS)));
  }

  /**
   * Finish the earliest sleep at the next turn's end. Two immediates: one queued now runs before those the steps just
   * woken queue — their reports leave in one (workers/ring-server.ts) — and the thread must not block with them unsent.
   */
  private finishAfterTurn(): void {
    if (this.finishing) return;
    this.finishing = true;
    setImmediate(this.finishNextTurn);
  }

  private readonly finishNextTurn = (): void => {
    setImmediate(this.finish);
  };

  private readonly finish = (): void => {
    this.finishing = false;
    const next = this.heap[0];
    if (next === undefined) return;
    let now = performance.now();
    const rest = next.dueAt - now;
    // More left: the sleeper this was queued for was canceled meanwhile, and a later one, first now, is timed afresh.
    if (rest > 0 && rest < FINISH_WITHIN_MS) {
      this.cells.sleepOnBell(this.bell, rest);
      now = performance.now();
    }
    this.wakeDue(now);
    this.schedule(now);
  };

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = performance.now();
    this.wakeDue(now);
    this.schedule(now);
  };

  private wakeDue(now: number): void {
    for (let first = this.heap[0]; first && first.dueAt <= now; first = this.heap[0]) {
      this.remove(first);
      this.wakeInTurn(first, this.cells.isCanceled(first.cell));
    }
  }

  private wakeInTurn(sleeper: Sleeper, canceled: boolean): void {
    this.waking.push({ sleeper, canceled });
    if (this.draining) return;
    this.draining = true;
    queueMicrotask(this.wakeNext);
  }

  /** Wakes one sleeper; its step's continuation is queued now, the next wake after it. */
  private readonly wakeNext = (): void => {
    const next = this.waking[this.wakingAt++];
    if (next === undefined) {
      this.waking = [];
      this.wakingAt = 0;
      this.draining = false;
      return;
    }
    this.beat();
    next.sleeper.woke(next.canceled);
    queueMicrotask(this.wakeNext);
  };

  private remove(sleeper: Sleeper): void {
    const at = sleeper.heapAt;
    sleeper.heapAt = -1;
    const last = this.heap.pop()!;
    if (last === sleeper) return;
    this.heap[at] = last;
    last.heapAt = at;
    this.siftDown(at);
    this.siftUp(last.heapAt);
  }

  private siftUp(from: number): void {
    const heap = this.heap;
    const sleeper = heap[from]!;
    let at = from;
    while (at > 0) {
      const parentAt = (at - 1) >> 1;
      const parent = heap[parentAt]!;
      if (parent.dueAt <= sleeper.dueAt) break;
      heap[at] = parent;
      parent.heapAt = at;
      at = parentAt;
    }
    heap[at] = sleeper;
    sleeper.heapAt = at;
  }

  private siftDown(from: number): void {
    const heap = this.heap;
    const sleeper = heap[from]!;
    let at = from;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.dueAt < heap[left]!.dueAt ? right : left;
      if (heap[child]!.dueAt >= sleeper.dueAt) break;
      heap[at] = heap[child]!;
      heap[at]!.heapAt = at;
      at = child;
    }
    heap[at] = sleeper;
    sleeper.heapAt = at;
  }
}
