/**
 * The courier slots: one word each, holding its owner's threadId, taken with one compareExchange. Recording the owner
 * in the same atomic step that takes the slot is what makes recovery exact: when a thread dies holding slots — and a
 * terminated thread runs no `finally` — the main thread frees exactly the slots that name it.
 *
 * Each slot also records the client of its holder, so that what each client holds is counted from the slot words, never
 * kept as counters: a thread's death frees its slots, and with them its clients' counts, exactly. A slot's client word
 * is written by its holder right after the slot is taken, and cleared before it is freed; a slot read in between counts
 * for no client. ELSEWHERE is nobody's client: its slots count for none.
 */
import type { LineCounts } from './waiter-line.js';
import { CLIENT_INDICES, ELSEWHERE, FREE, NO_CLIENT, type SemaphoreLayout } from './semaphore-layout.js';

/** What `give` answers for a slot its caller did not hold. */
export const NOT_HELD = -2;

export class CourierSlots {
  private readonly words: Int32Array;
  /** The slots as `counts()` last counted them from their words. */
  private readonly slotCounts: LineCounts = { held: new Int32Array(CLIENT_INDICES), lent: 0, busy: 0, mostHeld: 0 };
  /** Where this thread starts looking for a free slot; spreads threads over the slots. */
  private nextProbe = 0;

  constructor(private readonly layout: SemaphoreLayout) {
    this.words = layout.words;
  }

  get size(): number {
    return this.layout.size;
  }

  /** A free slot for `owner`, its client word `client` (unless ELSEWHERE's); -1 if none is free. */
  take(owner: number, client: number): number {
    const { words, layout } = this;
    for (let n = 0; n < layout.size; n++) {
      const slot = (this.nextProbe + n) % layout.size;
      if (Atomics.load(words, layout.slot(slot)) !== FREE) continue;
      if (Atomics.compareExchange(words, layout.slot(slot), FREE, owner) !== FREE) continue;
      this.nextProbe = (slot + 1) % layout.size;
      if (owner !== ELSEWHERE) Atomics.store(words, layout.slotClient(slot), client);
      return slot;
    }
    return -1;
  }

  /** Give back `owner`'s slot: the client it was held for (NO_CLIENT for ELSEWHERE's), or NOT_HELD if not `owner`'s. */
  give(slot: number, owner: number): number {
    const { words, layout } = this;
    if (!Number.isInteger(slot) || slot < 0 || slot >= layout.size) throw new RangeError(`no slot ${slot}`);
    // Only its holder frees a slot while the holder lives: the word cannot change under us.
    if (Atomics.load(words, layout.slot(slot)) !== owner) return NOT_HELD;
    const client = Atomics.load(words, layout.slotClient(slot));
    Atomics.store(words, layout.slotClient(slot), NO_CLIENT);
    if (Atomics.compareExchange(words, layout.slot(slot), owner, FREE) !== owner) return NOT_HELD;
    return client;
  }

  /** Main thread, after `owner` has exited: free every slot it still held; returns how many. */
  reclaim(owner: number): number {
    const { words, layout } = this;
    let freed = 0;
    for (let i = 0; i < layout.size; i++) {
      if (Atomics.load(words, layout.slot(i)) !== owner) continue;
      Atomics.store(words, layout.slotClient(i), NO_CLIENT);
      if (Atomics.compareExchange(words, layout.slot(i), owner, FREE) === owner) freed++;
    }
    return freed;
  }

  /** The slots as their words say now, into `counts` (its `held` zeroed): held per client, lent (not ELSEWHERE), busy. */
  countInto(counts: LineCounts): void {
    const { words, layout } = this;
    counts.lent = layout.size;
    counts.busy = 0;
    counts.mostHeld = 0;
    for (let i = 0; i < layout.size; i++) {
      const owner = Atomics.load(words, layout.slot(i));
      if (owner === ELSEWHERE) counts.lent--;
      else if (owner !== FREE) {
        counts.busy++;
        const client = Atomics.load(words, layout.slotClient(i));
        if (client !== NO_CLIENT) counts.mostHeld = Math.max(counts.mostHeld, ++counts.held[client]!);
      }
    }
  }

  /** The slots as their words say now, counted afresh into one record kept for it. */
  counts(): LineCounts {
    const counts = this.slotCounts;
    counts.held.fill(0);
    this.countInto(counts);
    return counts;
  }

  /** Slots held right now (a snapshot: others may take or free slots meanwhile). */
  busy(): number {
    let held = 0;
    for (let i = 0; i < this.layout.size; i++) if (Atomics.load(this.words, this.layout.slot(i)) !== FREE) held++;
    return held;
  }

  /** Slots `owner` holds right now. */
  heldBy(owner: number): number {
    let held = 0;
    for (let i = 0; i < this.layout.size; i++) if (Atomics.load(this.words, this.layout.slot(i)) === owner) held++;
    return held;
  }

  /** Who holds each slot right now: its owner's threadId, 0 when free (a snapshot). */
  owners(): number[] {
    return Array.from({ length: this.layout.size }, (_, i) => Atomics.load(this.words, this.layout.slot(i)));
  }

  /** The client index of each slot's holder, -1 when free or held ELSEWHERE (a snapshot). */
  slotClients(): number[] {
    return this.owners().map((owner, i) =>
      owner === FREE || owner === ELSEWHERE ? NO_CLIENT : Atomics.load(this.words, this.layout.slotClient(i)),
    );
  }

  /** Slots each client index holds right now (ELSEWHERE's counted for none); a snapshot. */
  heldPerClient(): number[] {
    const held = Array<number>(CLIENT_INDICES).fill(0);
    this.slotClients().forEach((client) => {
      if (client !== NO_CLIENT) held[client]!++;
    });
    return held;
  }
}
