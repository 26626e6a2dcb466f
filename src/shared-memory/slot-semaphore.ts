/**
 * A counting semaphore in a SharedArrayBuffer, shared by every worker thread:
 * the courier pool (Go's channel semaphore, `make(chan struct{}, 5)`).
 *
 * Slots. Each slot is a word holding its owner's threadId (0 when free),
 * taken with one compareExchange. Recording the owner in the same atomic step
 * that takes the slot is what makes recovery exact: when a thread dies holding
 * slots — and a terminated thread runs no `finally` — the main thread frees
 * exactly the slots that name it.
 *
 * Waiters are served first come, first served, and a free slot reaches the
 * oldest *live* waiter whatever the other waiters' threads are doing:
 * - Every waiter is published in a shared table with its ticket (its place in
 *   line) and its token (its task's cancel cell). Any thread can tell from the
 *   cell whether a waiter is still wanted — the main thread writes it — so a
 *   canceled waiter is passed over at once, even while its own thread is busy
 *   computing and has not noticed yet (it removes itself on its next turn).
 * - Each thread runs one dispatcher for all its waiters. A release bumps
 *   GENERATION and wakes every dispatcher (one per thread that has waiters,
 *   not one per waiter); the dispatcher of the thread whose waiter is oldest
 *   takes the slot for it. No wake-up is ever handed to one particular waiter,
 *   so none can be lost with a waiter that was abandoned, or with its thread.
 * - Hand-over (issue 32). A slot freed on a thread whose own waiter is next in
 *   line goes to it there and then, in the releaser's turn: no thread is woken
 *   for it. Only a slot still free after that wakes the dispatchers, and a
 *   thread's wakes are sent once per turn of its event loop, however many
 *   slots it freed in that turn. A wake-up owed and not yet sent dies with its
 *   thread, which is why the main thread wakes every dispatcher after a death.
 * - One read of the line a pass (src/shared-memory/waiter-line.ts). A pass
 *   reads every published waiter once and serves its burst of free slots
 *   from that read: a waiter of another thread whose turn comes is left a
 *   slot (its thread is woken and takes it), ours behind it take the rest.
 *   Read once per slot instead, a burst of 240 slots over 8,809 waiters held
 *   its thread 237 ms, long enough to be judged stuck.
 * - A thread can die between any two instructions. Everything it publishes
 *   names it — slot owners, waiter entries, its count of waiters — so once it
 *   has exited the main thread takes all of it back and wakes every
 *   dispatcher: no waiter is left asleep beside a free slot.
 *
 * Tiers (issue 31). Each waiter also publishes its order's tier's rank (0:
 * critical) and when it began to wait, in milliseconds of the clock every
 * thread shares (timeOrigin + now): a better aged rank goes first, the fair
 * share below decides within a rank (the rule, aging included, is
 * src/fairness/fair-share.ts's tieredTurnOrder and agedRank).
 *
 * Clients (the bulkheads). Each waiter also publishes its client's small
 * index (the main thread names clients by index: src/clients/client-book.ts),
 * and each slot records the client of its holder, so "first come, first
 * served" is per client, and between clients the turn is fair:
 * - When a slot frees, the next waiter served is, among the clients with
 *   live waiters, that of the client holding the fewest slots per unit of its
 *   weight (ties: the oldest ticket) — FIFO within a client, so no client's
 *   backlog delays another's turn.
 * - A cap: once the main thread sets a share (more than one client exists),
 *   a client holds at most ceil(lent slots × share) — lent: not held
 *   ELSEWHERE — and never every slot lent while more than one is, so one
 *   client never has all the couriers of an instance lent 2 (issue 25); its
 *   waiters beyond that wait; they are not refused.
 * - A floor: the main thread marks which clients are active and what weight
 *   the floors are shared by (`setFloors`); an active client is guaranteed
 *   ⌊lent × its weight / the weights⌋ slots, and a client beyond its own
 *   floor takes a slot only while what stays free covers the others' unused
 *   floors (the rule: src/fairness/fair-share.ts). Lent slots, not COURIERS:
 *   in the durable mode each instance keeps the floors of what it lends.
 * - Slots held per client are counted from the slot words, never kept as
 *   counters: a thread's death frees its slots, and with them its clients'
 *   counts, exactly. A slot's client word is written by its holder right
 *   after the slot is taken, and cleared before it is freed; a slot read in
 *   between counts for no client. So a taker counts its client's slots after
 *   writing its own, and gives the slot back if that is over the cap: of
 *   takers racing for one client, the last to count sees all the others, and
 *   no more than the cap are ever granted (a floor's check is made the same
 *   way, after the take). ELSEWHERE is nobody's client: its slots count for
 *   none, its waiters weigh as a client holding nothing, under no share.
 */
import { fitsShare, floorOf } from '../fairness/fair-share.js';
import { DEFAULT_RANK, RANKS } from '../fairness/tiers.js';
import { WaiterLine, type LineCounts } from './waiter-line.js';

/** Layout, in Int32 words: header, slots, per-thread waiter counts, waiter entries, the clients' region. */
const GENERATION = 0; // moves on every release and every reclaim; dispatchers sleep on it
const SLOT_COUNT = 1;
const NEXT_TICKET = 2;
const THREAD_ENTRIES = 3;
const WAITER_ENTRIES = 4;
const HIGH_WATER = 5; // waiter entries at or past it are free: scans stop there
const FIRST_SLOT = 6;

/** A thread's count of waiters: [owner threadId, waiters]. */
const THREAD_OWNER = 0;
const THREAD_WAITING = 1;
const WORDS_PER_THREAD_ENTRY = 2;

/** A waiter: [owner threadId, ticket, token, state, client index, tier rank, since (ms, wrapping)]. */
const WAITER_OWNER = 0;
const WAITER_TICKET = 1;
const WAITER_TOKEN = 2;
const WAITER_STATE = 3;
const WAITER_CLIENT = 4;
const WAITER_RANK = 5;
const WAITER_SINCE = 6;
const WORDS_PER_WAITER = 7;

const FREE = 0;
/** WAITER_STATE of a published waiter; anything else is an entry being filled or emptied. */
const WAITING = 1;

/**
 * Client indices the semaphore keeps fairness for: 0…CLIENT_INDICES−1, the
 * last shared by every client beyond the others (the overflow). They follow
 * the waiter entries, in a region of their own: the share (in thousandths,
 * 0: no cap), the weight of each index, then the client of each slot's holder.
 */
export const CLIENT_INDICES = 256;
const SHARE = 0;
/** The active clients' weights together, a newcomer's included (0: no floors). */
const SHARERS_WEIGHT = 1;
/** The weight kept for a newcomer: its floor is kept free too. */
const NEWCOMER = 2;
/** Indices at or past it are marked idle: a look at the floors stops there. */
const ACTIVE_BOUND = 3;
const FIRST_WEIGHT = 4;
/** Then one word per index: 1 while the client is active (its floor kept), 0 when idle. */
const FIRST_ACTIVE = FIRST_WEIGHT + CLIENT_INDICES;
/** A slot's client word while it is free, being taken, or held ELSEWHERE. */
const NO_CLIENT = -1;
/** The client of ELSEWHERE's waiters: none, never capped, holding nothing. */
const NOBODYS = CLIENT_INDICES;
/**
 * The client of a give-back's waiters (`acquireToGiveBack`): nobody's too, but it takes a slot only while no client
 * would then hold more than its cap of the slots left lent.
 */
const GIVING_BACK = CLIENT_INDICES + 1;

/** A waiter whose cancellation no other thread can see (tests, benchmarks): live until its own thread drops it. */
export const NO_TOKEN = -1;

/**
 * An owner no thread has: slots the main thread holds so that no step takes
 * them — slots lent to other instances, in the durable mode, where COURIERS
 * is global (src/postgres/courier-allotment.ts).
 */
export const ELSEWHERE = 0x7fff_ffff;

/** How a waiter learns that its step was canceled (in workers: the step's cancel cell). */
export interface Cancellation {
  /** The cancel cell other threads look at to pass over this waiter once it is canceled; NO_TOKEN if none. */
  readonly token?: number;
  isCanceled(): boolean;
  /**
   * Resolves when the step may have been canceled; callers look at isCanceled(). Leave it out when whoever cancels
   * calls `wakeWaiters()` after every cancellation (the main thread does, for steps' cells): a wait per waiter on
   * another thread's word costs both threads a cross-thread wake-up for every waiter, canceled or not — the word is
   * notified when its cell is recycled — where one wake of the dispatchers per cancellation costs nothing while
   * nothing is canceled.
   */
  whenCanceled?(): Promise<void>;
}

interface LocalWaiter {
  readonly owner: number;
  readonly client: number;
  readonly entry: number;
  readonly token: number;
  readonly cancel: Cancellation;
  readonly resolve: (slot: number) => void;
}

/** Milliseconds on a clock every thread reads alike (each thread's performance.now() has an origin of its own), in 32 bits. */
const sharedClockMs = (): number => Math.floor(performance.timeOrigin + performance.now()) | 0;

export class SlotSemaphore {
  readonly buffer: SharedArrayBuffer;
  readonly size: number;
  private readonly words: Int32Array;
  private readonly firstThreadEntry: number;
  private readonly threadEntries: number;
  private readonly firstWaiter: number;
  private readonly waiterEntries: number;
  /** The clients' region: share, weights, slot clients. */
  private readonly clientRegion: number;
  private readonly firstSlotClient: number;
  /** The slots as countHeld() last counted them from their words (held per client index, lent, busy). */
  private readonly slotCounts: LineCounts = { held: new Int32Array(CLIENT_INDICES), lent: 0, busy: 0, mostHeld: 0 };
  /** Where this thread starts looking for a free slot; spreads threads over the slots. */
  private nextProbe = 0;
  /**
   * The line as this thread last read it, kept for the rest of its turn: the slots its steps free in one turn (a batch
   * ending together) are handed over from one read, not one read each. Dropped when the turn ends, and when a waiter
   * of this thread joins (it may be next).
   */
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
  /** A wake of the dispatchers is owed by this thread, to be sent at the end of its turn (`wakeSoonIfSlotFree`). */
  private wakeOwed = false;
  /** Wakes of the dispatchers this instance has sent (notifies): what the hand-over saves is counted in them. */
  private wakesSent = 0;
  /** Wakes the dispatcher when a waiter of this thread arrives or is canceled. */
  private poke: (() => void) | undefined;
  /** The dispatcher's wait on GENERATION, kept across local events until it settles. */
  private generationWait: { readonly seen: number; readonly settled: Promise<unknown>; done: boolean } | undefined;

  /** `isTokenCanceled`: whether a waiter's token (cancel cell) has been canceled, as any thread sees it. */
  constructor(
    buffer: SharedArrayBuffer,
    private readonly isTokenCanceled: (token: number) => boolean = () => false,
  ) {
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    this.size = Atomics.load(this.words, SLOT_COUNT);
    this.threadEntries = Atomics.load(this.words, THREAD_ENTRIES);
    this.waiterEntries = Atomics.load(this.words, WAITER_ENTRIES);
    this.lineRead = new WaiterLine(
      {
        mayTakeOne: (client, counts) => this.mayTakeOne(client, counts),
        weightOf: (client) => (client < CLIENT_INDICES ? this.weightOf(client) : 1),
      },
      CLIENT_INDICES,
      this.waiterEntries,
    );
    this.firstThreadEntry = FIRST_SLOT + this.size;
    this.firstWaiter = this.firstThreadEntry + this.threadEntries * WORDS_PER_THREAD_ENTRY;
    this.clientRegion = this.firstWaiter + this.waiterEntries * WORDS_PER_WAITER;
    this.firstSlotClient = this.clientRegion + FIRST_ACTIVE + CLIENT_INDICES;
  }

  /**
   * `threads`: how many threads may wait at once, dying ones included (as for
   * the tracker); `waiters`: how many steps may wait at once in all.
   */
  static create(slots: number, threads = 1, waiters = 1024): SlotSemaphore {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`slots must be a positive integer, got ${slots}`);
    const threadEntries = threads * 4 + 4;
    const clients = FIRST_ACTIVE + CLIENT_INDICES + slots;
    const length = FIRST_SLOT + slots + threadEntries * WORDS_PER_THREAD_ENTRY + waiters * WORDS_PER_WAITER + clients;
    const words = new Int32Array(new SharedArrayBuffer(length * Int32Array.BYTES_PER_ELEMENT));
    words[SLOT_COUNT] = slots;
    words[THREAD_ENTRIES] = threadEntries;
    words[WAITER_ENTRIES] = waiters;
    const semaphore = new SlotSemaphore(words.buffer);
    words.fill(1, semaphore.clientRegion + FIRST_WEIGHT, semaphore.clientRegion + FIRST_ACTIVE);
    words.fill(NO_CLIENT, semaphore.firstSlotClient);
    return semaphore;
  }

  /** Main thread: the weight of a client index in the fair share (a positive integer; 1 until set). */
  setWeight(client: number, weight: number): void {
    checkClient(client);
    if (!Number.isInteger(weight) || weight < 1)
      throw new RangeError(`a weight must be a positive integer, got ${weight}`);
    Atomics.store(this.words, this.clientRegion + FIRST_WEIGHT + client, weight);
  }

  /**
   * Main thread: the most of the lent slots one client may hold, in
   * thousandths (600: ceil(60% of them)); 0 lifts the cap. Set once a second
   * client exists.
   */
  setShare(thousandths: number): void {
    if (!Number.isInteger(thousandths) || thousandths < 0 || thousandths > 1000)
      throw new RangeError(`a share is 0 to 1000 thousandths, got ${thousandths}`);
    Atomics.store(this.words, this.clientRegion + SHARE, thousandths);
    this.line = undefined;
    // A cap only ever tightens, but whoever waits looks again all the same.
    this.wakeAll();
  }

  /**
   * Main thread: the floors (src/fairness/fair-share.ts) — the client indices now active, the weight kept for a
   * newcomer, and the weights together (0: no floors). Those waiting look again if anything changed.
   */
  setFloors(active: ReadonlySet<number>, newcomer: number, totalWeight: number): void {
    for (const client of active) checkClient(client);
    const region = this.clientRegion;
    let changed = false;
    const store = (word: number, value: number): void => {
      if (Atomics.exchange(this.words, word, value) !== value) changed = true;
    };
    let bound = Atomics.load(this.words, region + ACTIVE_BOUND);
    for (const client of active) bound = Math.max(bound, client + 1);
    for (let client = 0; client < bound; client++) store(region + FIRST_ACTIVE + client, active.has(client) ? 1 : 0);
    store(region + ACTIVE_BOUND, bound);
    store(region + NEWCOMER, newcomer);
    store(region + SHARERS_WEIGHT, totalWeight);
    this.line = undefined;
    if (changed) this.wakeAll();
  }

  /**
   * Slots the active clients' floors keep and they do not use (a newcomer's not counted): a want of the instance's
   * clients as real as a step waiting, for an instance lending slots (src/postgres/courier-allotment.ts).
   */
  unusedFloors(): number {
    const { lent, held } = this.countHeld();
    const region = this.clientRegion;
    let unused = 0;
    if (Atomics.load(this.words, region + SHARERS_WEIGHT) > 0 && Atomics.load(this.words, region + SHARE) > 0) {
      const bound = Atomics.load(this.words, region + ACTIVE_BOUND);
      for (let client = 0; client < bound; client++) unused += Math.max(0, this.floorOf(client, lent) - held[client]!);
    }
    return unused;
  }

  /** Slots each client index holds right now (ELSEWHERE's counted for none); a snapshot. */
  heldPerClient(): number[] {
    const held = Array<number>(CLIENT_INDICES).fill(0);
    for (let i = 0; i < this.size; i++) {
      const owner = Atomics.load(this.words, FIRST_SLOT + i);
      const client = Atomics.load(this.words, this.firstSlotClient + i);
      if (owner !== FREE && owner !== ELSEWHERE && client !== NO_CLIENT) held[client]!++;
    }
    return held;
  }

  /** Steps waiting per client index right now (canceled ones not yet gone included; ELSEWHERE's not); a snapshot. */
  waitingPerClient(): number[] {
    const waiting = Array<number>(CLIENT_INDICES).fill(0);
    const highWater = Atomics.load(this.words, HIGH_WATER);
    for (let e = 0; e < highWater; e++) {
      const entry = this.waiterEntry(e);
      if (Atomics.load(this.words, entry + WAITER_STATE) !== WAITING) continue;
      const client = Atomics.load(this.words, entry + WAITER_CLIENT);
      if (client < CLIENT_INDICES) waiting[client]!++;
    }
    return waiting;
  }

  /** The client index of each slot's holder, -1 when free or held ELSEWHERE (a snapshot). */
  slotClients(): number[] {
    const clients: number[] = [];
    for (let i = 0; i < this.size; i++) {
      const owner = Atomics.load(this.words, FIRST_SLOT + i);
      clients.push(
        owner === FREE || owner === ELSEWHERE ? NO_CLIENT : Atomics.load(this.words, this.firstSlotClient + i),
      );
    }
    return clients;
  }

  /** Slots held right now (a snapshot: others may take or free slots meanwhile). */
  busy(): number {
    let held = 0;
    for (let i = 0; i < this.size; i++) if (Atomics.load(this.words, FIRST_SLOT + i) !== FREE) held++;
    return held;
  }

  /** Slots `owner` holds right now. */
  heldBy(owner: number): number {
    let held = 0;
    for (let i = 0; i < this.size; i++) if (Atomics.load(this.words, FIRST_SLOT + i) === owner) held++;
    return held;
  }

  /** Who holds each slot right now: its owner's threadId, 0 when free (a snapshot). */
  owners(): number[] {
    const owners: number[] = [];
    for (let i = 0; i < this.size; i++) owners.push(Atomics.load(this.words, FIRST_SLOT + i));
    return owners;
  }

  /** Steps waiting for a slot right now, on every thread (canceled ones not yet gone included). */
  waiting(): number {
    let total = 0;
    for (let e = 0; e < this.threadEntries; e++)
      total += Atomics.load(this.words, this.threadEntry(e) + THREAD_WAITING);
    return total;
  }

  /**
   * Take a free slot for `owner`, for client index `client`, without
   * waiting, whether or not others are waiting — but never past the client's
   * cap. Returns the slot, or -1 if none is free or the client holds its cap.
   */
  tryAcquire(owner: number, client = 0): number {
    if (!Number.isInteger(owner) || owner <= 0) throw new RangeError(`owner must be a positive threadId, got ${owner}`);
    if (owner !== ELSEWHERE) checkClient(client);
    for (let n = 0; n < this.size; n++) {
      const slot = (this.nextProbe + n) % this.size;
      if (Atomics.load(this.words, FIRST_SLOT + slot) !== FREE) continue;
      if (Atomics.compareExchange(this.words, FIRST_SLOT + slot, FREE, owner) === FREE) {
        this.nextProbe = (slot + 1) % this.size;
        if (owner === ELSEWHERE) return slot;
        // Written after the slot is ours, counted after it is written: see the header.
        Atomics.store(this.words, this.firstSlotClient + slot, client);
        if (this.holdsWithinShare(client)) return slot;
        // Never counted as taken by this thread's line: freed without telling it.
        this.free(slot, owner, false);
        return -1;
      }
    }
    return -1;
  }

  /**
   * Worker: a slot for `owner` and client index `client` without waiting, as `acquire` would take it at once: only if
   * nobody waits, and within the client's cap. -1: `acquire` would have the caller wait.
   */
  takeAtOnce(owner: number, client = 0): number {
    return this.waiting() === 0 ? this.tryAcquire(owner, client) : -1;
  }

  /**
   * Take a slot for `owner`, for client index `client` (0 by default; ignored
   * for ELSEWHERE, which is nobody's), first come first served within the
   * client and fairly between clients, waiting as long as it takes unless
   * canceled. Resolves to the slot, or to -1 if `cancel` fired first (then
   * nothing is held). Waiting parks no thread: other tasks on it keep
   * running. Every wait ends, because the step's order has a deadline that
   * cancels it. Throws if more steps wait at once than the semaphore was
   * created for.
   */
  acquire(owner: number, cancel: Cancellation, client = 0, rank = DEFAULT_RANK): Promise<number> {
    return this.acquireFor(owner, cancel, owner === ELSEWHERE ? NOBODYS : client, rank);
  }

  /**
   * Main thread: take a slot back from the steps to lend it elsewhere — an instance giving a courier back
   * (src/postgres/courier-allotment.ts) — as `acquire(ELSEWHERE)` does, but only a slot whose going leaves no client
   * holding more than its cap of the slots still lent. Taking whichever slot freed first, a give-back took the victim's
   * and left its instance 2 slots lent, both the hog's (issue 25). A revocation must take every slot: `acquire`.
   */
  acquireToGiveBack(cancel: Cancellation): Promise<number> {
    return this.acquireFor(ELSEWHERE, cancel, GIVING_BACK, DEFAULT_RANK);
  }

  private acquireFor(owner: number, cancel: Cancellation, clientIndex: number, rank: number): Promise<number> {
    if (cancel.isCanceled()) return Promise.resolve(-1);
    if (clientIndex < CLIENT_INDICES) checkClient(clientIndex);
    const client = clientIndex < CLIENT_INDICES ? clientIndex : 0;
    if (this.waiting() === 0 && (clientIndex !== GIVING_BACK || this.mayGiveBack())) {
      const slot = this.tryAcquire(owner, client);
      if (slot >= 0) return Promise.resolve(slot);
    }
    return new Promise((resolve) => {
      const token = cancel.token ?? NO_TOKEN;
      const entry = this.publish(owner, token, clientIndex, rank);
      this.local.set(entry, { owner, client: clientIndex, entry, token, cancel, resolve });
      this.line = undefined;
      if (cancel.whenCanceled) void cancel.whenCanceled().then(() => this.poke?.());
      if (!this.dispatching) void this.dispatch();
      // With no slot free there is nothing for a pass to give a newcomer,
      // and whoever frees one wakes every dispatcher (read after publishing:
      // a slot freed before this read is seen here, one freed after it wakes
      // us). A pass per arrival would cost a thread absorbing thousands of
      // steps at once a pass over all its waiters for each of them. With a
      // slot free (another client's waiters are at their cap), the newcomer
      // may be next in line: look.
      else if (this.busy() < this.size) this.poke?.();
    });
  }

  /**
   * Give back a slot held by `owner` and wake the dispatchers. Returns false
   * if the slot was not `owner`'s (already freed, e.g. by the main thread
   * after the owner was declared dead).
   */
  release(slot: number, owner: number): boolean {
    return this.free(slot, owner, true);
  }

  /** release(); `counted`: the slot is one this thread's line counts (not one taken and given back within a look). */
  private free(slot: number, owner: number, counted: boolean): boolean {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.size) throw new RangeError(`no slot ${slot}`);
    // Only its holder frees a slot while the holder lives: the word cannot change under us.
    if (Atomics.load(this.words, FIRST_SLOT + slot) !== owner) return false;
    const client = Atomics.load(this.words, this.firstSlotClient + slot);
    Atomics.store(this.words, this.firstSlotClient + slot, NO_CLIENT);
    if (Atomics.compareExchange(this.words, FIRST_SLOT + slot, owner, FREE) !== owner) return false;
    if (counted) this.line?.freed(client, owner === ELSEWHERE);
    // Read after the slot is free: a waiter counted later finds it free itself.
    if (this.waiting() === 0) {
      Atomics.add(this.words, GENERATION, 1);
      return true;
    }
    // If this thread's waiter is next in line, it takes the slot here; another thread's wakes its dispatcher.
    if (this.local.size > 0 && !this.passing) this.pass(false);
    this.wakeSoonIfSlotFree();
    return true;
  }

  /** Waiter entries this instance has read looking down the line: what its hand-overs cost, counted. */
  get waitersRead(): number {
    return this.entriesRead;
  }

  /** Wakes of the dispatchers this instance has sent so far. */
  get wakes(): number {
    return this.wakesSent;
  }

  /**
   * Drop, at once, this thread's waiters for `token` (their task has ended and
   * its cell will be reused): they resolve to -1 and are unpublished before
   * anyone can mistake the cell's next task for them.
   */
  abandon(token: number): void {
    let dropped = false;
    for (const waiter of this.local.values()) {
      if (waiter.token !== token) continue;
      this.unpublish(waiter, -1);
      dropped = true;
    }
    if (dropped) this.wakeIfSlotFree();
  }

  /**
   * Wake every dispatcher if a slot is free and someone waits: a waiter given up (canceled, abandoned) may have been
   * the one whose turn it was.
   */
  wakeIfSlotFree(): void {
    if (this.waiting() > 0 && this.busy() < this.size) this.wakeAll();
  }

  /**
   * Main thread, after it canceled a step: every dispatcher looks again, so the canceled waiter's own thread drops it
   * (its step then ends, canceled) and, if its turn had come, the next in line is served — without waiting for the
   * canceled waiter's thread to notice by itself. Waiters whose Cancellation has no `whenCanceled` rely on this call.
   *
   * Unconditional: a waiter published after this call is looked at by its dispatcher's next pass anyway (a pass runs
   * on the waiter's own thread after its publication, and reads the cell), and one published before it is woken. A
   * wake with no dispatcher waiting costs an increment and a notify nobody hears.
   */
  wakeWaiters(): void {
    this.wakeAll();
  }

  /**
   * This thread canceled some of its own waiters (a failed step's siblings): its dispatcher drops them on its next
   * pass, in a microtask, with no wake-up of any thread.
   */
  lookAgain(): void {
    this.poke?.();
  }

  /**
   * Main thread, after `owner` has exited: free every slot it still held,
   * unpublish its waiters, and wake every dispatcher — whether or not it held
   * anything, since it may have died between freeing a slot and waking the
   * others. Returns the slots freed.
   */
  releaseAllOwnedBy(owner: number): number {
    this.line = undefined;
    let freed = 0;
    for (let i = 0; i < this.size; i++) {
      if (Atomics.load(this.words, FIRST_SLOT + i) !== owner) continue;
      Atomics.store(this.words, this.firstSlotClient + i, NO_CLIENT);
      if (Atomics.compareExchange(this.words, FIRST_SLOT + i, owner, FREE) === owner) freed++;
    }
    const highWater = Atomics.load(this.words, HIGH_WATER);
    for (let e = 0; e < highWater; e++) {
      const entry = this.waiterEntry(e);
      if (Atomics.load(this.words, entry + WAITER_OWNER) !== owner) continue;
      Atomics.store(this.words, entry + WAITER_STATE, FREE);
      Atomics.store(this.words, entry + WAITER_OWNER, FREE);
    }
    this.lowerHighWater();
    for (let e = 0; e < this.threadEntries; e++) {
      const entry = this.threadEntry(e);
      if (Atomics.load(this.words, entry + THREAD_OWNER) !== owner) continue;
      Atomics.store(this.words, entry + THREAD_WAITING, 0);
      Atomics.store(this.words, entry + THREAD_OWNER, FREE);
    }
    this.wakeAll();
    return freed;
  }

  /** This thread's dispatcher: runs while it has waiters, one pass per event. */
  private async dispatch(): Promise<void> {
    this.dispatching = true;
    try {
      while (this.local.size > 0) {
        // Read before the pass: a release during the pass moves it, and the
        // wait below then returns at once.
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
   * On the dispatcher's pass (`fresh`), drop the waiters that were canceled;
   * then, while a slot is free and the next live waiter in line anywhere is
   * one of ours, give it the slot. A release's pass leaves the canceled to
   * the dispatcher: the main thread wakes every dispatcher after each
   * cancellation, and meanwhile the line passes over a canceled waiter
   * (`readLine`, `serve`). Swept on every release too, each of a thread's
   * waiters was looked at for every courier the thread freed.
   *
   * The line is read once (`fresh`: now; else the read made earlier in this
   * turn, if any) and served from: a waiter of another thread ahead of ours
   * is left a slot — it is woken, and its own thread takes it — and ours
   * behind it take the slots left over. Whenever the next in line changes
   * while a slot is free, every dispatcher must look again: it may be on
   * another thread, whose dispatcher last looked when one of ours was ahead
   * of it. So a pass that dropped or served a waiter wakes them all if a slot
   * is still free.
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
      if (this.local.size > 0 && this.busy() < this.size) {
        const line = (!fresh && this.line) || this.readLine();
        if (this.serve(line)) changed = true;
      }
    } finally {
      this.passing = false;
    }
    if (changed) this.wakeSoonIfSlotFree();
  }

  /** Give this thread's waiters their turns in `line` while slots are left; whether any was served or dropped. */
  private serve(line: WaiterLine): boolean {
    let served = false;
    while (line.counts.lent > line.counts.busy) {
      const e = line.next();
      if (e < 0) break;
      const entry = this.waiterEntry(e);
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
      const slot = this.tryAcquire(waiter.owner, waiter.client < CLIENT_INDICES ? waiter.client : 0);
      if (slot < 0) break;
      line.taken(waiter.client >= CLIENT_INDICES);
      this.unpublish(waiter, slot);
      served = true;
    }
    return served;
  }

  /**
   * Owe every dispatcher a wake if a slot is free and someone waits, sent at the end of this turn: the slots a thread
   * frees in one turn (a batch of steps ending together) cost the others one wake, not one each.
   */
  private wakeSoonIfSlotFree(): void {
    if (this.wakeOwed || this.waiting() === 0 || this.busy() === this.size) return;
    this.wakeOwed = true;
    setImmediate(() => {
      this.wakeOwed = false;
      this.wakeIfSlotFree();
    });
  }

  /** A release or a reclaim (GENERATION moved), or a waiter of this thread arrived or was canceled. */
  private nextEvent(seen: number): Promise<unknown> {
    // A wait is reused only while it is pending. A notify wakes every waiter,
    // including one that began waiting after the notifier bumped GENERATION,
    // so a wait can settle while GENERATION still reads `seen`: reusing it
    // then would spin this thread in microtasks, starving its timers.
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
    this.countInto(line.counts);
    const highWater = Atomics.load(this.words, HIGH_WATER);
    this.entriesRead += highWater;
    const now = sharedClockMs();
    for (let e = 0; e < highWater; e++) {
      const entry = this.waiterEntry(e);
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

  /** Whether a waiter of `client` may take one more slot, the line's counts being what they are. */
  private mayTakeOne(client: number, counts: LineCounts): boolean {
    const { lent, busy, held } = counts;
    if (client === NOBODYS) return true;
    if (client === GIVING_BACK) return counts.mostHeld <= this.capOf(lent - 1);
    const clientHeld = held[client]!;
    return this.fits(client, clientHeld, clientHeld + 1, lent, busy + 1, this.unusedFloorsOf(lent, held));
  }

  /** The slots as their words say now, into `counts` (its `held` zeroed). */
  private countInto(counts: LineCounts): void {
    counts.lent = this.size;
    counts.busy = 0;
    counts.mostHeld = 0;
    for (let i = 0; i < this.size; i++) {
      const owner = Atomics.load(this.words, FIRST_SLOT + i);
      if (owner === ELSEWHERE) counts.lent--;
      else if (owner !== FREE) {
        counts.busy++;
        const client = Atomics.load(this.words, this.firstSlotClient + i);
        if (client !== NO_CLIENT) counts.mostHeld = Math.max(counts.mostHeld, ++counts.held[client]!);
      }
    }
  }

  /** The slots as their words say now (slotCounts, counted afresh): held per client, lent (not ELSEWHERE), busy. */
  private countHeld(): LineCounts {
    const counts = this.slotCounts;
    counts.held.fill(0);
    this.countInto(counts);
    return counts;
  }

  /** Whether a slot may go elsewhere now: no client would hold more than its cap of the slots left lent. */
  private mayGiveBack(): boolean {
    const { lent, mostHeld } = this.countHeld();
    return mostHeld <= this.capOf(lent - 1);
  }

  private weightOf(client: number): number {
    return Atomics.load(this.words, this.clientRegion + FIRST_WEIGHT + client);
  }

  /** The floor of `client` with `lent` slots lent: 0 if it is idle or no floors are set. */
  private floorOf(client: number, lent: number): number {
    if (Atomics.load(this.words, this.clientRegion + FIRST_ACTIVE + client) === 0) return 0;
    return floorOf(lent, this.weightOf(client), Atomics.load(this.words, this.clientRegion + SHARERS_WEIGHT));
  }

  /**
   * What the floors of the active clients (and a newcomer's) keep of `lent` slots and their holders do not use, `held`
   * holding what each holds (countHeld()'s, or a line's).
   */
  private unusedFloorsOf(lent: number, held: Int32Array): number {
    const region = this.clientRegion;
    const totalWeight = Atomics.load(this.words, region + SHARERS_WEIGHT);
    if (totalWeight === 0 || Atomics.load(this.words, region + SHARE) === 0) return 0;
    let unused = floorOf(lent, Atomics.load(this.words, region + NEWCOMER), totalWeight);
    const bound = Atomics.load(this.words, region + ACTIVE_BOUND);
    for (let client = 0; client < bound; client++) unused += Math.max(0, this.floorOf(client, lent) - held[client]!);
    return unused;
  }

  /**
   * Whether `client`, holding `held` slots as countHeld() counted them (`unused`: unusedFloors()), may hold
   * `claimed`, `busy` being held in all: the share's rule (src/fairness/fair-share.ts), under the cap.
   */
  private fits(client: number, held: number, claimed: number, lent: number, busy: number, unused: number): boolean {
    if (Atomics.load(this.words, this.clientRegion + SHARE) === 0) return true;
    const floor = this.floorOf(client, lent);
    const keptForOthers = unused - Math.max(0, floor - held);
    return fitsShare({ held: claimed, floor, cap: this.capOf(lent) }, { capacity: lent, busy, keptForOthers });
  }

  /**
   * The most slots one client may hold with `lent` slots lent: ceil(lent × share) — but never all of them while more
   * than one is lent (60% of 2 rounds up to both) — or no cap.
   */
  private capOf(lent: number): number {
    const share = Atomics.load(this.words, this.clientRegion + SHARE);
    if (share === 0) return Infinity;
    const cap = Math.ceil((lent * share) / 1000);
    return lent > 1 ? Math.min(cap, lent - 1) : cap;
  }

  /** Whether the slots `client` holds, as the slot words say now (one just taken included), are within its share. */
  private holdsWithinShare(client: number): boolean {
    if (Atomics.load(this.words, this.clientRegion + SHARE) === 0) return true;
    const { lent, busy, held } = this.countHeld();
    return this.fits(client, held[client]!, held[client]!, lent, busy, this.unusedFloorsOf(lent, held));
  }

  /**
   * Count the waiter, then claim and fill an entry, and only then mark it
   * WAITING: an entry is looked at only once complete. A thread dying half-way
   * leaves entries that name it, which the main thread frees.
   */
  private publish(owner: number, token: number, client: number, rank: number): number {
    Atomics.add(this.words, this.threadEntryOf(owner) + THREAD_WAITING, 1);
    // The lowest free entry: entries in use stay packed at the bottom, so a
    // look for the next in line reads about as many entries as there are
    // waiters. (Taken round the table instead, every entry had been used
    // within seconds of load, and each look read all of MAX_INFLIGHT's:
    // measured, half of a worker's CPU.)
    for (let e = 0; e < this.waiterEntries; e++) {
      const entry = this.waiterEntry(e);
      if (Atomics.load(this.words, entry + WAITER_OWNER) !== FREE) continue;
      if (Atomics.compareExchange(this.words, entry + WAITER_OWNER, FREE, owner) !== FREE) continue;
      Atomics.store(this.words, entry + WAITER_TICKET, Atomics.add(this.words, NEXT_TICKET, 1));
      Atomics.store(this.words, entry + WAITER_TOKEN, token);
      Atomics.store(this.words, entry + WAITER_CLIENT, client);
      Atomics.store(this.words, entry + WAITER_RANK, Math.min(Math.max(0, rank | 0), RANKS - 1));
      Atomics.store(this.words, entry + WAITER_SINCE, sharedClockMs());
      this.raiseHighWater(e);
      Atomics.store(this.words, entry + WAITER_STATE, WAITING);
      return e;
    }
    Atomics.sub(this.words, this.threadEntryOf(owner) + THREAD_WAITING, 1);
    throw new Error(`more than ${this.waiterEntries} steps waiting for a courier at once`);
  }

  private unpublish(waiter: LocalWaiter, slot: number): void {
    const entry = this.waiterEntry(waiter.entry);
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
   * The top entries are free: bring the mark down to the highest entry in
   * use, so that a spike of waiters does not make every later look long.
   *
   * A publisher claims its entry, then reads the mark and raises it past the
   * entry if need be. Lowering races with that: so the mark is lowered first
   * (one compareExchange: of lowerers racing, one wins), then the entries it
   * uncovered are read again. A claim this second read misses came after the
   * lowering, so its publisher reads the lowered mark and raises it itself;
   * a claim it sees may have read the old mark and not raised it, so the
   * lowerer raises it back, and wakes every dispatcher: a look in between
   * may have missed that waiter.
   */
  private lowerHighWater(): void {
    const high = Atomics.load(this.words, HIGH_WATER);
    let low = high;
    while (low > 0 && Atomics.load(this.words, this.waiterEntry(low - 1) + WAITER_OWNER) === FREE) low--;
    if (low === high || Atomics.compareExchange(this.words, HIGH_WATER, high, low) !== high) return;
    for (let e = high - 1; e >= low; e--) {
      if (Atomics.load(this.words, this.waiterEntry(e) + WAITER_OWNER) === FREE) continue;
      this.raiseHighWater(e);
      this.wakeAll();
      return;
    }
  }

  /** Waiter entries a look for the next in line reads: about the most waiting at once lately, not ever. */
  get entriesLookedAt(): number {
    return Atomics.load(this.words, HIGH_WATER);
  }

  private wakeAll(): void {
    this.wakesSent++;
    Atomics.add(this.words, GENERATION, 1);
    Atomics.notify(this.words, GENERATION);
  }

  /** The count of waiters of `owner`'s thread (claimed on its first wait). */
  private threadEntryOf(owner: number): number {
    let free = -1;
    for (let e = 0; e < this.threadEntries; e++) {
      const entry = this.threadEntry(e);
      const holder = Atomics.load(this.words, entry + THREAD_OWNER);
      if (holder === owner) return entry;
      if (holder === FREE && free < 0) free = e;
    }
    for (let e = Math.max(free, 0); e < this.threadEntries; e++) {
      const entry = this.threadEntry(e);
      if (Atomics.compareExchange(this.words, entry + THREAD_OWNER, FREE, owner) === FREE) return entry;
    }
    throw new Error(`no free waiter count for thread ${owner} (${this.threadEntries} entries)`);
  }

  private threadEntry(index: number): number {
    return this.firstThreadEntry + index * WORDS_PER_THREAD_ENTRY;
  }

  private waiterEntry(index: number): number {
    return this.firstWaiter + index * WORDS_PER_WAITER;
  }
}

function checkClient(client: number): void {
  if (!Number.isInteger(client) || client < 0 || client >= CLIENT_INDICES)
    throw new RangeError(`a client index is 0 to ${CLIENT_INDICES - 1}, got ${client}`);
}
