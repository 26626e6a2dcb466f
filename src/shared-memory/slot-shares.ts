/**
 * The clients' shares of the courier slots, as the semaphore's shared memory holds them (the clients' region of
 * semaphore-layout.ts): each client index's weight, the cap (a share of the slots lent, set once more than one client
 * exists), and which clients are active and keep a floor. What a share allows is the fairness rule's to say
 * (src/fairness/fair-share.ts: floors, caps, whose turn); this applies it to the slots as their words count them.
 *
 * A cap: a client holds at most ceil(lent slots × share) — lent: not held ELSEWHERE — and never every slot lent while
 * more than one is, so one client never has all the couriers of an instance lent 2. Lent slots, not COURIERS: in the
 * durable mode each instance keeps the shares of what it lends.
 */
import { capOf, fitsShare, floorOf } from '../fairness/fair-share.js';
import type { LineCounts } from './waiter-line.js';
import {
  ACTIVE_BOUND,
  checkClient,
  CLIENT_INDICES,
  FIRST_ACTIVE,
  FIRST_WEIGHT,
  GIVING_BACK,
  NEWCOMER,
  NOBODYS,
  SHARE,
  SHARERS_WEIGHT,
  type SemaphoreLayout,
} from './semaphore-layout.js';

export class SlotShares {
  private readonly words: Int32Array;
  private readonly region: number;

  constructor(layout: SemaphoreLayout) {
    this.words = layout.words;
    this.region = layout.clientRegion;
  }

  /** Main thread: the weight of a client index in the fair share (a positive integer; 1 until set). */
  setWeight(client: number, weight: number): void {
    checkClient(client);
    if (!Number.isInteger(weight) || weight < 1)
      throw new RangeError(`a weight must be a positive integer, got ${weight}`);
    Atomics.store(this.words, this.region + FIRST_WEIGHT + client, weight);
  }

  /** Main thread: the cap, in thousandths of the slots lent (600: ceil(60% of them)); 0 lifts it. */
  setShare(thousandths: number): void {
    if (!Number.isInteger(thousandths) || thousandths < 0 || thousandths > 1000)
      throw new RangeError(`a share is 0 to 1000 thousandths, got ${thousandths}`);
    Atomics.store(this.words, this.region + SHARE, thousandths);
  }

  /** Main thread: the client indices now active, the weight kept for a newcomer, the weights together; whether any moved. */
  setFloors(active: ReadonlySet<number>, newcomer: number, totalWeight: number): boolean {
    for (const client of active) checkClient(client);
    const { words, region } = this;
    let changed = false;
    const store = (word: number, value: number): void => {
      if (Atomics.exchange(words, word, value) !== value) changed = true;
    };
    let bound = Atomics.load(words, region + ACTIVE_BOUND);
    for (const client of active) bound = Math.max(bound, client + 1);
    for (let client = 0; client < bound; client++) store(region + FIRST_ACTIVE + client, active.has(client) ? 1 : 0);
    store(region + ACTIVE_BOUND, bound);
    store(region + NEWCOMER, newcomer);
    store(region + SHARERS_WEIGHT, totalWeight);
    return changed;
  }

  /** A client index's weight (1 for nobody's). */
  weightOf(client: number): number {
    return client < CLIENT_INDICES ? Atomics.load(this.words, this.region + FIRST_WEIGHT + client) : 1;
  }

  /** Whether a waiter of `client` may take one more slot, the slots being as `counts` say. */
  mayTakeOne(client: number, counts: LineCounts): boolean {
    const { lent, busy, held } = counts;
    if (client === NOBODYS) return true;
    if (client === GIVING_BACK) return counts.mostHeld <= this.capOf(lent - 1);
    const clientHeld = held[client]!;
    return this.fits(client, clientHeld, clientHeld + 1, lent, busy + 1, this.unusedFloorsOf(lent, held));
  }

  /** Whether the slots `client` holds as `counts` say (one just taken included) are within its share, once `capped`. */
  holdsWithinShare(client: number, counts: LineCounts): boolean {
    const { lent, busy, held } = counts;
    return this.fits(client, held[client]!, held[client]!, lent, busy, this.unusedFloorsOf(lent, held));
  }

  /** Whether a slot may go elsewhere now: no client would hold more than its cap of the slots left lent. */
  mayGiveBack({ lent, mostHeld }: LineCounts): boolean {
    return mostHeld <= this.capOf(lent - 1);
  }

  /** Slots the active clients' floors keep and they do not use (a newcomer's not counted), the slots as `counts` say. */
  unusedFloors({ lent, held }: LineCounts): number {
    if (Atomics.load(this.words, this.region + SHARERS_WEIGHT) === 0 || !this.capped) return 0;
    return this.unusedOwnFloors(lent, held);
  }

  /** Whether a cap is set: without one, every claim fits. */
  get capped(): boolean {
    return Atomics.load(this.words, this.region + SHARE) !== 0;
  }

  /** The floor of `client` with `lent` slots lent: 0 if it is idle or no floors are set. */
  private floorOf(client: number, lent: number): number {
    if (Atomics.load(this.words, this.region + FIRST_ACTIVE + client) === 0) return 0;
    return floorOf(lent, this.weightOf(client), Atomics.load(this.words, this.region + SHARERS_WEIGHT));
  }

  /** What the floors of the active clients and a newcomer's keep of `lent` slots and their holders do not use. */
  private unusedFloorsOf(lent: number, held: Int32Array): number {
    const totalWeight = Atomics.load(this.words, this.region + SHARERS_WEIGHT);
    if (totalWeight === 0 || !this.capped) return 0;
    const newcomer = floorOf(lent, Atomics.load(this.words, this.region + NEWCOMER), totalWeight);
    return newcomer + this.unusedOwnFloors(lent, held);
  }

  private unusedOwnFloors(lent: number, held: Int32Array): number {
    const bound = Atomics.load(this.words, this.region + ACTIVE_BOUND);
    let unused = 0;
    for (let client = 0; client < bound; client++) unused += Math.max(0, this.floorOf(client, lent) - held[client]!);
    return unused;
  }

  /** Whether `client`, holding `held`, may hold `claimed`, `busy` being held in all: the rule, under the cap. */
  private fits(client: number, held: number, claimed: number, lent: number, busy: number, unused: number): boolean {
    if (!this.capped) return true;
    const floor = this.floorOf(client, lent);
    const keptForOthers = unused - Math.max(0, floor - held);
    return fitsShare({ held: claimed, floor, cap: this.capOf(lent) }, { capacity: lent, busy, keptForOthers });
  }

  /** The most slots one client may hold with `lent` slots lent, or no cap. */
  private capOf(lent: number): number {
    const thousandths = Atomics.load(this.words, this.region + SHARE);
    return thousandths === 0 ? Infinity : capOf(lent, thousandths / 1000);
  }
}
