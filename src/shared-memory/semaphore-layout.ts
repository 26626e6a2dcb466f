/**
 * The courier semaphore's shared memory, word by word: one SharedArrayBuffer of Int32 words that every thread maps,
 * each of its parts reading and writing the words named here — the slots (courier-slots.ts), the clients' shares of
 * them (slot-shares.ts), the line of waiters (courier-line.ts).
 *
 * In order: a header; a word per slot, its owner's threadId (FREE when free); per thread that has waited, its count of
 * waiters; the waiter entries; then the clients' region: the share, what the floors are shared by, a weight and an
 * active mark per client index, the tiers' ceilings, and the client of each slot's holder.
 */
import { DEFAULT_RANK, RANKS } from '../fairness/tiers.js';

// The header.
/** Moves on every release and every reclaim; the dispatchers sleep on it. */
export const GENERATION = 0;
export const SLOT_COUNT = 1;
export const NEXT_TICKET = 2;
export const THREAD_ENTRIES = 3;
export const WAITER_ENTRIES = 4;
/** Waiter entries at or past it are free: looks down the line stop there. */
export const HIGH_WATER = 5;
export const FIRST_SLOT = 6;

/** A thread's count of waiters: [owner threadId, waiters]. */
export const THREAD_OWNER = 0;
export const THREAD_WAITING = 1;
const WORDS_PER_THREAD_ENTRY = 2;

/** A waiter: [owner threadId, ticket, token, state, client index, tier rank, since (ms, wrapping)]. */
export const WAITER_OWNER = 0;
export const WAITER_TICKET = 1;
export const WAITER_TOKEN = 2;
export const WAITER_STATE = 3;
export const WAITER_CLIENT = 4;
export const WAITER_RANK = 5;
export const WAITER_SINCE = 6;
const WORDS_PER_WAITER = 7;

/** A slot, a waiter entry or a thread entry nobody holds. */
export const FREE = 0;
/** WAITER_STATE of a published waiter; anything else is an entry being filled or emptied. */
export const WAITING = 1;

/**
 * Client indices the semaphore keeps fairness for: 0…CLIENT_INDICES−1, the last shared by every client beyond the
 * others (the overflow).
 */
export const CLIENT_INDICES = 256;
// The clients' region, from its start: the share (in thousandths, 0: no cap), then…
export const SHARE = 0;
/** The active clients' weights together, a newcomer's included (0: no floors). */
export const SHARERS_WEIGHT = 1;
/** The weight kept for a newcomer: its floor is kept free too. */
export const NEWCOMER = 2;
/** Indices at or past it are marked idle: a look at the floors stops there. */
export const ACTIVE_BOUND = 3;
/** The weight of each index. */
export const FIRST_WEIGHT = 4;
/** Then one word per index: 1 while the client is active (its floor kept), 0 when idle. */
export const FIRST_ACTIVE = FIRST_WEIGHT + CLIENT_INDICES;
/** Then the best tier rank in play (slot-tiers.ts): a ceiling holds only for worse ranks. */
export const BEST_RANK = FIRST_ACTIVE + CLIENT_INDICES;
/** Then each rank's ceiling, in thousandths of the slots lent (1000: none). */
export const FIRST_CEILING = BEST_RANK + 1;
/** Then the client of each slot's holder. */
const FIRST_SLOT_CLIENT = FIRST_CEILING + RANKS;

/** A slot's client word while it is free, being taken, or held ELSEWHERE. */
export const NO_CLIENT = -1;
/** The client of ELSEWHERE's waiters: none, never capped, holding nothing. */
export const NOBODYS = CLIENT_INDICES;
/**
 * The client of a give-back's waiters (`acquireToGiveBack`): nobody's too, but it takes a slot only while no client
 * would then hold more than its cap of the slots left lent.
 */
export const GIVING_BACK = CLIENT_INDICES + 1;

/** A waiter whose cancellation no other thread can see (tests, benchmarks): live until its own thread drops it. */
export const NO_TOKEN = -1;

/**
 * An owner no thread has: slots the main thread holds so that no step takes them — slots lent to other instances, in
 * the durable mode, where COURIERS is global (src/postgres/courier-allotment.ts).
 */
export const ELSEWHERE = 0x7fff_ffff;

/** Where each part of the semaphore's memory begins, for a buffer made by `allocate`. */
export class SemaphoreLayout {
  readonly words: Int32Array;
  /** Slots. */
  readonly size: number;
  readonly threadEntries: number;
  readonly waiterEntries: number;
  readonly clientRegion: number;
  private readonly firstThreadEntry: number;
  private readonly firstWaiter: number;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
    this.size = Atomics.load(this.words, SLOT_COUNT);
    this.threadEntries = Atomics.load(this.words, THREAD_ENTRIES);
    this.waiterEntries = Atomics.load(this.words, WAITER_ENTRIES);
    this.firstThreadEntry = FIRST_SLOT + this.size;
    this.firstWaiter = this.firstThreadEntry + this.threadEntries * WORDS_PER_THREAD_ENTRY;
    this.clientRegion = this.firstWaiter + this.waiterEntries * WORDS_PER_WAITER;
  }

  /**
   * Memory for `slots` slots, `threads` waiting threads' counts and `waiters` waiter entries, every weight 1, no tier's
   * ceiling kept.
   */
  static allocate(slots: number, threadEntries: number, waiters: number): SharedArrayBuffer {
    const clients = FIRST_SLOT_CLIENT + slots;
    const length = FIRST_SLOT + slots + threadEntries * WORDS_PER_THREAD_ENTRY + waiters * WORDS_PER_WAITER + clients;
    const words = new Int32Array(new SharedArrayBuffer(length * Int32Array.BYTES_PER_ELEMENT));
    words[SLOT_COUNT] = slots;
    words[THREAD_ENTRIES] = threadEntries;
    words[WAITER_ENTRIES] = waiters;
    const layout = new SemaphoreLayout(words.buffer);
    words.fill(1, layout.clientRegion + FIRST_WEIGHT, layout.clientRegion + FIRST_ACTIVE);
    words[layout.clientRegion + BEST_RANK] = DEFAULT_RANK;
    words.fill(1000, layout.clientRegion + FIRST_CEILING, layout.clientRegion + FIRST_CEILING + RANKS);
    words.fill(NO_CLIENT, layout.slotClient(0));
    return layout.buffer;
  }

  /** The word of a slot's owner. */
  slot(slot: number): number {
    return FIRST_SLOT + slot;
  }

  /** The word of the client of a slot's holder. */
  slotClient(slot: number): number {
    return this.clientRegion + FIRST_SLOT_CLIENT + slot;
  }

  /** The first word of a thread's count of waiters. */
  threadEntry(index: number): number {
    return this.firstThreadEntry + index * WORDS_PER_THREAD_ENTRY;
  }

  /** The first word of a waiter entry. */
  waiterEntry(index: number): number {
    return this.firstWaiter + index * WORDS_PER_WAITER;
  }
}

/** Milliseconds on a clock every thread reads alike (each thread's performance.now() has an origin of its own), in 32 bits. */
export const sharedClockMs = (): number => Math.floor(performance.timeOrigin + performance.now()) | 0;

export function checkClient(client: number): void {
  if (!Number.isInteger(client) || client < 0 || client >= CLIENT_INDICES)
    throw new RangeError(`a client index is 0 to ${CLIENT_INDICES - 1}, got ${client}`);
}
