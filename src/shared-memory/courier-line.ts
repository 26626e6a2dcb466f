/**
 * The line for courier slots, and the hand-over of a freed slot to whoever's turn it is (by the fairness rule, applied
 * by waiter-line.ts), whatever the other waiters' threads are doing:
 * - Every waiter is published in a shared table (ticket, token — its cancel cell —, client, rank, since): any thread
 *   can tell from the cell that a waiter was canceled and pass over it, even while its own thread is busy.
 * - Each thread runs one dispatcher for its waiters, asleep on GENERATION. Whoever changes the line while a slot is
 *   free bumps it and wakes every dispatcher (one per thread, not per waiter), and the dispatcher whose waiter's turn
 *   it is takes the slot: no wake-up is handed to one waiter, so none is lost with a waiter or its thread.
 * - A slot freed on a thread whose own waiter's turn it is goes to it in the release, waking no thread. One still free
 *   wakes the dispatchers in the release itself: a releaser that goes on computing must not keep another thread's
 *   waiter from it. Slots freed together still wake each one once: a dispatcher woken and not yet back asleep is not
 *   notified again.
 * - A pass reads the line once and serves a burst of free slots from that read (waiter-line.ts).
 * - Everything a thread publishes names it, so once it has exited the main thread takes it back (`forget`).
 */
import { RANKS } from '../fairness/tiers.js';
import { WaiterLine, type LineCounts, type TurnRules } from './waiter-line.js';
import {
  CLIENT_INDICES,
  FREE,
  GENERATION,
  HIGH_WATER,
  NEXT_TICKET,
  NO_TOKEN,
  sharedClockMs,
  THREAD_OWNER,
  THREAD_WAITING,
  WAITER_CLIENT,
  WAITER_OWNER,
  WAITER_RANK,
  WAITER_SINCE,
  WAITER_STATE,
  WAITER_TICKET,
  WAITER_TOKEN,
  WAITING,
  type SemaphoreLayout,
} from './semaphore-layout.js';

/** How a waiter learns that its step was canceled (in workers: the step's cancel cell). */
export interface Cancellation {
  /** The cancel cell other threads look at to pass over this waiter once it is canceled; NO_TOKEN if none. */
  readonly token?: number;
  isCanceled(): boolean;
  /**
   * Resolves when the step may have been canceled. Left out when whoever cancels wakes the dispatchers after every
   * cancellation (the main thread does, for steps' cells): a wait per waiter on its cell cost a cross-thread wake-up
   * for every waiter, canceled or not, when its cell was recycled.
   */
  whenCanceled?(): Promise<void>;
}

/** What the line asks of the rest of the semaphore: the slots, and the shares' rules for the turns. */
export interface LineHost extends TurnRules {
  /** A free slot for `owner` within `client`'s share and (aged) `rank`'s ceiling, or -1 (none free, or either is full). */
  take(owner: number, client: number, rank: number): number;
  countInto(counts: LineCounts): void;
  busy(): number;
}

interface LocalWaiter {
  readonly owner: number;
  readonly client: number;
  readonly entry: number;
  readonly token: number;
  readonly cancel: Cancellation;
  readonly resolve: (slot: number) => void;
}

export class CourierLine {
  private readonly words: Int32Array;
  /** The line as this thread last read it, kept for the rest of its turn (slots freed together, one read). */
  private line: WaiterLine | undefined;
  private lineExpires = false;
  /** The one line this instance reads into, again and again. */
  private readonly lineRead: WaiterLine;
  /** Waiter entries read by looks down the line, in all. */
  private entriesRead = 0;
  /** This thread's waiters, by entry. */
  private readonly local = new Map<number, LocalWaiter>();
  private dispatching = false;
  /** A pass is under way on this thread: a slot it gives back (over a share) must not start another. */
  private passing = false;
  /** Dispatchers this instance's wakes have woken. */
  private woken = 0;
  /** Wakes the dispatcher when a waiter of this thread arrives or is canceled. */
  private poke: (() => void) | undefined;
  /** The dispatcher's wait on GENERATION, kept across local events until it settles. */
  private generationWait: { readonly seen: number; readonly settled: Promise<unknown>; done: boolean } | undefined;

  constructor(
    private readonly layout: SemaphoreLayout,
    private readonly host: LineHost,
    /** Whether a waiter's token (cancel cell) has been canceled, as any thread sees it. */
    private readonly isTokenCanceled: (token: number) => boolean,
  ) {
    this.words = layout.words;
    this.lineRead = new WaiterLine(host, CLIENT_INDICES, layout.waiterEntries);
  }

  /** Into the line: resolves to the slot taken for the waiter, or to -1 once it is canceled. */
  join(owner: number, cancel: Cancellation, client: number, rank: number): Promise<number> {
    return new Promise((resolve) => {
      const token = cancel.token ?? NO_TOKEN;
      const entry = this.publish(owner, token, client, rank);
      this.local.set(entry, { owner, client, entry, token, cancel, resolve });
      this.line = undefined;
      if (cancel.whenCanceled) void cancel.whenCanceled().then(() => this.poke?.());
      if (!this.dispatching) void this.dispatch();
      // With no slot free there is nothing for a pass to give a newcomer, and whoever frees one wakes every dispatcher
      // (read after publishing: a slot freed before is seen here). A pass per arrival would cost a thread absorbing
      // thousands of steps a pass over all its waiters for each. With a slot free, the newcomer may be next: look.
      else if (this.host.busy() < this.layout.size) this.poke?.();
    });
  }

  /**
   * A slot of `client` was freed (by this thread's step, or given back from ELSEWHERE); `counted`: one this thread's
   * read of the line counts (not one taken and given back within a pass). If this thread's waiter's turn has come, it
   * takes the slot here; if the slot is still free, every dispatcher is woken for it.
   */
  slotFreed(client: number, elsewhere: boolean, counted: boolean): void {
    if (counted) this.line?.freed(client, elsewhere);
    // Read after the slot is free: a waiter counted later finds it free itself.
    if (this.waiting() === 0) {
      Atomics.add(this.words, GENERATION, 1);
      return;
    }
    if (this.local.size > 0 && !this.passing) this.pass(false);
    this.wakeIfSlotFree();
  }

  /** The shares, or who holds the slots, changed behind the line: the read kept this turn is no longer good. */
  forgetRead(): void {
    this.line = undefined;
  }

  /** Steps waiting for a slot right now, on every thread (canceled ones not yet gone included). */
  waiting(): number {
    let total = 0;
    for (let e = 0; e < this.layout.threadEntries; e++)
      total += Atomics.load(this.words, this.layout.threadEntry(e) + THREAD_WAITING);
    return total;
  }

  /** Steps waiting per client index right now (canceled ones not yet gone included; ELSEWHERE's not); a snapshot. */
  waitingPerClient(): number[] {
    const waiting = Array<number>(CLIENT_INDICES).fill(0);
    const highWater = Atomics.load(this.words, HIGH_WATER);
    for (let e = 0; e < highWater; e++) {
      const entry = this.layout.waiterEntry(e);
      if (Atomics.load(this.words, entry + WAITER_STATE) !== WAITING) continue;
      const client = Atomics.load(this.words, entry + WAITER_CLIENT);
      if (client < CLIENT_INDICES) waiting[client]!++;
    }
    return waiting;
  }

  /** Waiter entries a look for the next in line reads: about the most waiting at once lately, not ever. */
  get entriesLookedAt(): number {
    return Atomics.load(this.words, HIGH_WATER);
  }

  /** Waiter entries this instance has read looking down the line: what its hand-overs cost, counted. */
  get waitersRead(): number {
    return this.entriesRead;
  }

  /** Dispatchers this instance's wakes have woken: what the hand-over saves is counted in them. */
  get wakes(): number {
    return this.woken;
  }

  /** Drop, at once, this thread's waiters for `token` (their task has ended, its cell soon another's): they get -1. */
  abandon(token: number): void {
    let dropped = false;
    for (const waiter of this.local.values()) {
      if (waiter.token !== token) continue;
      this.unpublish(waiter, -1);
      dropped = true;
    }
    if (dropped) this.wakeIfSlotFree();
  }

  /** Wake every dispatcher if a slot is free and someone waits: a waiter given up may have been the one whose turn it was. */
  wakeIfSlotFree(): void {
    if (this.waiting() > 0 && this.host.busy() < this.layout.size) this.wakeAll();
  }

  /** Every dispatcher looks again. */
  wakeAll(): void {
    Atomics.add(this.words, GENERATION, 1);
    // A dispatcher already woken, and not yet back asleep, is not waiting: it is not woken twice.
    if (Atomics.notify(this.words, GENERATION) > 0) this.woken++;
  }

  /** This thread canceled some of its own waiters: its dispatcher drops them on its next pass, in a microtask. */
  lookAgain(): void {
    this.poke?.();
  }

  /** Main thread, after `owner` has exited: forget its waiters and its count of them. */
  forget(owner: number): void {
    this.line = undefined;
    const highWater = Atomics.load(this.words, HIGH_WATER);
    for (let e = 0; e < highWater; e++) {
      const entry = this.layout.waiterEntry(e);
      if (Atomics.load(this.words, entry + WAITER_OWNER) !== owner) continue;
      Atomics.store(this.words, entry + WAITER_STATE, FREE);
      Atomics.store(this.words, entry + WAITER_OWNER, FREE);
    }
    this.lowerHighWater();
    for (let e = 0; e < this.layout.threadEntries; e++) {
      const entry = this.layout.threadEntry(e);
      if (Atomics.load(this.words, entry + THREAD_OWNER) !== owner) continue;
      Atomics.store(this.words, entry + THREAD_WAITING, 0);
      Atomics.store(this.words, entry + THREAD_OWNER, FREE);
    }
  }

  /** This thread's dispatcher: runs while it has waiters, one pass per event. */
  private async dispatch(): Promise<void> {
    this.dispatching = true;
    try {
      while (this.local.size > 0) {
        // Read before the pass: a release during the pass moves it, and the wait below then returns at once.
        const seen = Atomics.load(this.words, GENERATION);
        this.pass(true);
        if (this.local.size === 0) break;
        await this.nextEvent(seen);
      }
    } finally {
      this.dispatching = false;
      this.poke = undefined;
    }
  }

  /**
   * On the dispatcher's pass (`fresh`), drop the waiters that were canceled (a release's pass leaves them to it: the
   * line passes over them meanwhile); then, while a slot is free and the next live waiter anywhere is ours, give it the
   * slot, from one read of the line (`fresh`: now; else this turn's, if any). A pass that dropped or served a waiter
   * changed who is next, so the other dispatchers look again if a slot is still free.
   */
  private pass(fresh: boolean): void {
    let changed = false;
    this.passing = true;
    try {
      if (fresh)
        for (const waiter of this.local.values()) {
          if (!waiter.cancel.isCanceled()) continue;
          this.unpublish(waiter, -1);
          changed = true;
        }
      // No slot free: nobody's turn can come now, so no look down the line (a read of every waiter).
      if (this.local.size > 0 && this.host.busy() < this.layout.size) {
        const line = (!fresh && this.line) || this.readLine();
        if (this.serve(line)) changed = true;
      }
    } finally {
      this.passing = false;
    }
    if (changed) this.wakeIfSlotFree();
  }

  /** Give this thread's waiters their turns in `line` while slots are left; whether any was served or dropped. */
  private serve(line: WaiterLine): boolean {
    let served = false;
    while (line.counts.lent > line.counts.busy) {
      const e = line.next();
      if (e < 0) break;
      const entry = this.layout.waiterEntry(e);
      // Served, withdrawn or reused since the read.
      if (
        Atomics.load(this.words, entry + WAITER_STATE) !== WAITING ||
        Atomics.load(this.words, entry + WAITER_TICKET) !== line.nextTicket
      ) {
        line.gone();
        continue;
      }
      const waiter = this.local.get(e);
      if (waiter === undefined) {
        const token = Atomics.load(this.words, entry + WAITER_TOKEN);
        if (token !== NO_TOKEN && this.isTokenCanceled(token)) line.gone();
        // Its turn has come: a slot is left for its own thread to take.
        else line.taken(Atomics.load(this.words, entry + WAITER_CLIENT) >= CLIENT_INDICES);
        continue;
      }
      if (waiter.cancel.isCanceled()) {
        this.unpublish(waiter, -1);
        line.gone();
        served = true;
        continue;
      }
      // -1 also when another thread took for the same client meanwhile, up to its cap: its give-back wakes us to
      // look again.
      const slot = this.host.take(waiter.owner, waiter.client < CLIENT_INDICES ? waiter.client : 0, line.nextRank);
      if (slot < 0) break;
      line.taken(waiter.client >= CLIENT_INDICES);
      this.unpublish(waiter, slot);
      served = true;
    }
    return served;
  }

  /** A release or a reclaim (GENERATION moved), or a waiter of this thread arrived or was canceled. */
  private nextEvent(seen: number): Promise<unknown> {
    // A wait is reused only while it is pending: a notify also wakes a wait begun after the bump, so a wait can settle
    // while GENERATION still reads `seen`, and reused then it would spin this thread in microtasks.
    let generation = this.generationWait;
    if (generation === undefined || generation.done || generation.seen !== seen) {
      const wait = Atomics.waitAsync(this.words, GENERATION, seen);
      const pending = { seen, settled: wait.async ? wait.value : Promise.resolve(wait.value), done: !wait.async };
      if (wait.async) void wait.value.then(() => (pending.done = true));
      this.generationWait = generation = pending;
    }
    const local = new Promise<void>((resolve) => (this.poke = resolve));
    return Promise.race([generation.settled, local]);
  }

  /**
   * Read the line: every published waiter whose cell is not canceled, and the slots as their words say now. Kept for
   * the rest of this turn (`line`).
   */
  private readLine(): WaiterLine {
    const line = this.lineRead;
    line.reset();
    this.host.countInto(line.counts);
    const highWater = Atomics.load(this.words, HIGH_WATER);
    this.entriesRead += highWater;
    const now = sharedClockMs();
    for (let e = 0; e < highWater; e++) {
      const entry = this.layout.waiterEntry(e);
      if (Atomics.load(this.words, entry + WAITER_STATE) !== WAITING) continue;
      const token = Atomics.load(this.words, entry + WAITER_TOKEN);
      if (token !== NO_TOKEN && this.isTokenCanceled(token)) continue;
      line.add(
        e,
        Atomics.load(this.words, entry + WAITER_TICKET),
        Atomics.load(this.words, entry + WAITER_CLIENT),
        Atomics.load(this.words, entry + WAITER_RANK),
        (now - Atomics.load(this.words, entry + WAITER_SINCE)) | 0,
      );
    }
    line.ready();
    this.line = line;
    if (!this.lineExpires) {
      this.lineExpires = true;
      setImmediate(() => {
        this.lineExpires = false;
        this.line = undefined;
      });
    }
    return line;
  }

  /**
   * Count the waiter, then claim and fill an entry, and only then mark it WAITING: an entry is looked at only once
   * complete. A thread dying half-way leaves entries that name it, which the main thread frees.
   */
  private publish(owner: number, token: number, client: number, rank: number): number {
    const { words, layout } = this;
    Atomics.add(words, this.threadEntryOf(owner) + THREAD_WAITING, 1);
    // The lowest free entry: entries in use stay packed at the bottom, so a look reads about as many as there are
    // waiters (taken round the table, every look read all of MAX_INFLIGHT's: half of a worker's CPU).
    for (let e = 0; e < layout.waiterEntries; e++) {
      const entry = layout.waiterEntry(e);
      if (Atomics.load(words, entry + WAITER_OWNER) !== FREE) continue;
      if (Atomics.compareExchange(words, entry + WAITER_OWNER, FREE, owner) !== FREE) continue;
      Atomics.store(words, entry + WAITER_TICKET, Atomics.add(words, NEXT_TICKET, 1));
      Atomics.store(words, entry + WAITER_TOKEN, token);
      Atomics.store(words, entry + WAITER_CLIENT, client);
      Atomics.store(words, entry + WAITER_RANK, Math.min(Math.max(0, rank | 0), RANKS - 1));
      Atomics.store(words, entry + WAITER_SINCE, sharedClockMs());
      this.raiseHighWater(e);
      Atomics.store(words, entry + WAITER_STATE, WAITING);
      return e;
    }
    Atomics.sub(words, this.threadEntryOf(owner) + THREAD_WAITING, 1);
    throw new Error(`more than ${layout.waiterEntries} steps waiting for a courier at once`);
  }

  private unpublish(waiter: LocalWaiter, slot: number): void {
    const entry = this.layout.waiterEntry(waiter.entry);
    Atomics.store(this.words, entry + WAITER_STATE, FREE);
    Atomics.store(this.words, entry + WAITER_OWNER, FREE);
    Atomics.sub(this.words, this.threadEntryOf(waiter.owner) + THREAD_WAITING, 1);
    this.local.delete(waiter.entry);
    if (waiter.entry + 1 === Atomics.load(this.words, HIGH_WATER)) this.lowerHighWater();
    waiter.resolve(slot);
  }

  /** Entry `e` is claimed: the mark must be past it before the entry is marked WAITING. */
  private raiseHighWater(e: number): void {
    for (let high = Atomics.load(this.words, HIGH_WATER); high <= e; high = Atomics.load(this.words, HIGH_WATER)) {
      if (Atomics.compareExchange(this.words, HIGH_WATER, high, e + 1) === high) break;
    }
  }

  /**
   * The top entries are free: bring the mark down to the highest entry in use, so that a spike of waiters does not make
   * every later look long. A publisher claims its entry, then raises the mark past it if need be; so the mark is
   * lowered first (one compareExchange), then the entries it uncovered are read again: a claim this read misses came
   * after the lowering and raises the mark itself; one it sees may have read the old mark, so the lowerer raises it
   * back and wakes every dispatcher, a look in between having maybe missed that waiter.
   */
  private lowerHighWater(): void {
    const { words, layout } = this;
    const high = Atomics.load(words, HIGH_WATER);
    let low = high;
    while (low > 0 && Atomics.load(words, layout.waiterEntry(low - 1) + WAITER_OWNER) === FREE) low--;
    if (low === high || Atomics.compareExchange(words, HIGH_WATER, high, low) !== high) return;
    for (let e = high - 1; e >= low; e--) {
      if (Atomics.load(words, layout.waiterEntry(e) + WAITER_OWNER) === FREE) continue;
      this.raiseHighWater(e);
      this.wakeAll();
      return;
    }
  }

  /** The count of waiters of `owner`'s thread (claimed on its first wait). */
  private threadEntryOf(owner: number): number {
    const { words, layout } = this;
    let free = -1;
    for (let e = 0; e < layout.threadEntries; e++) {
      const entry = layout.threadEntry(e);
      const holder = Atomics.load(words, entry + THREAD_OWNER);
      if (holder === owner) return entry;
      if (holder === FREE && free < 0) free = e;
    }
    for (let e = Math.max(free, 0); e < layout.threadEntries; e++) {
      const entry = layout.threadEntry(e);
      if (Atomics.compareExchange(words, entry + THREAD_OWNER, FREE, owner) === FREE) return entry;
    }
    throw new Error(`no free waiter count for thread ${owner} (${layout.threadEntries} entries)`);
  }
}
