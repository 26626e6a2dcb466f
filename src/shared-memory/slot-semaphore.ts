/**
 * A counting semaphore in a SharedArrayBuffer, shared by every worker thread: the courier pool (Go's channel semaphore,
 * `make(chan struct{}, 5)`), as the service holds it — take a slot at once or wait in line for one (honoring
 * cancellation, holding no thread), give it back, and, on the main thread, set the clients' shares and take back what a
 * dead thread held. Its parts: the words (semaphore-layout.ts), the slots by owner (courier-slots.ts), the clients'
 * shares of them by the fairness rule (slot-shares.ts), the tiers' ceilings (slot-tiers.ts), the line and the hand-over
 * (courier-line.ts). A taker counts the slots after writing its own, and gives the slot back if that is over its
 * client's share or its tier's ceiling: of takers racing, the last to count sees the others, and no more than the cap
 * or the ceiling are ever granted.
 */
import { DEFAULT_RANK } from '../fairness/tiers.js';
import { CourierLine, type Cancellation } from './courier-line.js';
import { CourierSlots, NOT_HELD } from './courier-slots.js';
import {
  checkClient,
  CLIENT_INDICES,
  ELSEWHERE,
  GIVING_BACK,
  NOBODYS,
  NO_CLIENT,
  SemaphoreLayout,
} from './semaphore-layout.js';
import { SlotShares } from './slot-shares.js';
import { SlotTiers } from './slot-tiers.js';

export { CLIENT_INDICES, ELSEWHERE, NO_TOKEN } from './semaphore-layout.js';
export type { Cancellation } from './courier-line.js';

export class SlotSemaphore {
  readonly buffer: SharedArrayBuffer;
  readonly size: number;
  private readonly slots: CourierSlots;
  private readonly shares: SlotShares;
  private readonly tiers: SlotTiers;
  private readonly line: CourierLine;

  /** `isTokenCanceled`: whether a waiter's token (cancel cell) has been canceled, as any thread sees it. */
  constructor(buffer: SharedArrayBuffer, isTokenCanceled: (token: number) => boolean = () => false) {
    const layout = new SemaphoreLayout(buffer);
    this.buffer = buffer;
    this.size = layout.size;
    this.slots = new CourierSlots(layout);
    this.shares = new SlotShares(layout);
    this.tiers = new SlotTiers(layout);
    const { slots, shares, tiers } = this;
    this.line = new CourierLine(
      layout,
      {
        take: (owner, client, rank) => this.tryAcquire(owner, client, rank),
        countInto: (counts) => slots.countInto(counts),
        busy: () => slots.busy(),
        mayTakeOne: (client, counts) => shares.mayTakeOne(client, counts),
        rankMayTake: (rank, counts) => tiers.mayTake(rank, counts),
        weightOf: (client) => shares.weightOf(client),
      },
      isTokenCanceled,
    );
  }

  /**
   * `threads`: how many threads may wait at once, dying ones included (as for the tracker); `waiters`: how many steps
   * may wait at once in all.
   */
  static create(slots: number, threads = 1, waiters = 1024): SlotSemaphore {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`slots must be a positive integer, got ${slots}`);
    return new SlotSemaphore(SemaphoreLayout.allocate(slots, threads * 4 + 4, waiters));
  }

  /** Main thread: the weight of a client index in the fair share (a positive integer; 1 until set). */
  setWeight(client: number, weight: number): void {
    this.shares.setWeight(client, weight);
  }

  /** Main thread: the most of the lent slots one client may hold, in thousandths; 0 lifts the cap. */
  setShare(thousandths: number): void {
    this.shares.setShare(thousandths);
    this.line.forgetRead();
    // A cap only ever tightens, but whoever waits looks again all the same.
    this.line.wakeAll();
  }

  /**
   * Main thread: each tier rank's ceiling of the slots lent, in thousandths (best rank first), and the best rank in play
   * from the start (the best the clients are configured with): slot-tiers.ts.
   */
  setTierCeilings(thousandths: readonly number[], bestInPlay: number): void {
    this.tiers.setCeilings(thousandths);
    this.tiers.seen(bestInPlay);
    this.line.forgetRead();
    this.line.wakeAll();
  }

  /**
   * Main thread: the floors (src/fairness/fair-share.ts) — the client indices now active, the weight kept for a newcomer,
   * and the weights together (0: no floors). Those waiting look again if anything changed.
   */
  setFloors(active: ReadonlySet<number>, newcomer: number, totalWeight: number): void {
    const changed = this.shares.setFloors(active, newcomer, totalWeight);
    this.line.forgetRead();
    if (changed) this.line.wakeAll();
  }

  /**
   * Slots the active clients' floors keep and they do not use (a newcomer's not counted): a want of the instance's
   * clients as real as a step waiting, for an instance lending slots (src/postgres/courier-allotment.ts).
   */
  unusedFloors(): number {
    return this.shares.unusedFloors(this.slots.counts());
  }

  // Snapshots of the slots and the line, for whoever watches (courier-slots.ts and courier-line.ts say what each is).
  heldPerClient = (): number[] => this.slots.heldPerClient();
  waitingPerClient = (): number[] => this.line.waitingPerClient();
  slotClients = (): number[] => this.slots.slotClients();
  busy = (): number => this.slots.busy();
  heldBy = (owner: number): number => this.slots.heldBy(owner);
  owners = (): number[] => this.slots.owners();
  waiting = (): number => this.line.waiting();
  get entriesLookedAt(): number {
    return this.line.entriesLookedAt;
  }
  get waitersRead(): number {
    return this.line.waitersRead;
  }
  get wakes(): number {
    return this.line.wakes;
  }

  /**
   * Take a free slot for `owner`, for client index `client`, its step of tier rank `rank` (aged), without waiting,
   * whether or not others are waiting — but never past the client's share or the rank's ceiling. Returns the slot, or -1
   * if none is free, the client holds its share or the rank its ceiling.
   */
  tryAcquire(owner: number, client = 0, rank = DEFAULT_RANK): number {
    if (!Number.isInteger(owner) || owner <= 0) throw new RangeError(`owner must be a positive threadId, got ${owner}`);
    if (owner === ELSEWHERE) return this.slots.take(owner, client);
    checkClient(client);
    const tiered = this.tiers.bounds(rank);
    if (tiered && !this.tiers.mayTake(rank, this.slots.counts())) return -1;
    const slot = this.slots.take(owner, client);
    if (slot < 0 || (!tiered && !this.shares.capped)) return slot;
    // Counted after its client word is written: see the top of this file.
    const counts = this.slots.counts();
    const withinShare = !this.shares.capped || this.shares.holdsWithinShare(client, counts);
    if (withinShare && (!tiered || this.tiers.mayTake(rank, counts, true))) return slot;
    // Never counted as taken by this thread's read of the line: freed without telling it.
    this.free(slot, owner, false);
    return -1;
  }

  /**
   * Take a slot for `owner`, for client index `client` (0 by default; ignored for ELSEWHERE, which is nobody's), by the
   * line's rule, waiting as long as it takes unless canceled. Resolves to the slot, or to -1 if `cancel` fired first
   * (then nothing is held). Waiting parks no thread. Every wait ends, because the step's order has a deadline that
   * cancels it. Throws if more steps wait at once than the semaphore was created for.
   */
  acquire(owner: number, cancel: Cancellation, client = 0, rank = DEFAULT_RANK): Promise<number> {
    return this.acquireFor(owner, cancel, owner === ELSEWHERE ? NOBODYS : client, rank);
  }

  /**
   * Main thread: take a slot back from the steps to lend it elsewhere — an instance giving a courier back
   * (src/postgres/courier-allotment.ts) — as `acquire(ELSEWHERE)` does, but only a slot whose going leaves no client
   * holding more than its cap of the slots still lent. Taking whichever slot freed first, a give-back took the victim's
   * and left its instance 2 slots lent, both the hog's. A revocation must take every slot: `acquire`.
   */
  acquireToGiveBack(cancel: Cancellation): Promise<number> {
    return this.acquireFor(ELSEWHERE, cancel, GIVING_BACK, DEFAULT_RANK);
  }

  private acquireFor(owner: number, cancel: Cancellation, clientIndex: number, rank: number): Promise<number> {
    if (cancel.isCanceled()) return Promise.resolve(-1);
    if (clientIndex < CLIENT_INDICES) checkClient(clientIndex);
    this.tiers.seen(rank);
    const client = clientIndex < CLIENT_INDICES ? clientIndex : 0;
    if (this.line.waiting() === 0 && (clientIndex !== GIVING_BACK || this.shares.mayGiveBack(this.slots.counts()))) {
      const slot = this.tryAcquire(owner, client, rank);
      if (slot >= 0) return Promise.resolve(slot);
    }
    return this.line.join(owner, cancel, clientIndex, rank);
  }

  /**
   * Give back a slot held by `owner`, to whoever's turn it is. Returns false if the slot was not `owner`'s (already
   * freed, e.g. by the main thread after the owner was declared dead).
   */
  release(slot: number, owner: number): boolean {
    return this.free(slot, owner, true);
  }

  /** release(); `counted`: the slot is one this thread's read of the line counts. */
  private free(slot: number, owner: number, counted: boolean): boolean {
    const client = this.slots.give(slot, owner);
    if (client === NOT_HELD) return false;
    this.line.slotFreed(client === NO_CLIENT ? -1 : client, owner === ELSEWHERE, counted);
    return true;
  }

  /** Drop, at once, this thread's waiters for `token` (their task has ended and its cell will be reused). */
  abandon(token: number): void {
    this.line.abandon(token);
  }
  /** Wake every dispatcher if a slot is free and someone waits. */
  wakeIfSlotFree = (): void => this.line.wakeIfSlotFree();
  /**
   * Main thread, after it canceled a step: every dispatcher looks again, so the canceled waiter's own thread drops it
   * and, if its turn had come, the next in line is served without waiting for that thread to notice by itself.
   */
  wakeWaiters = (): void => this.line.wakeAll();
  /** This thread canceled some of its own waiters (a failed step's siblings): its dispatcher drops them, in a microtask. */
  lookAgain = (): void => this.line.lookAgain();

  /**
   * Main thread, after `owner` has exited: free every slot it still held, forget its waiters, and wake every dispatcher
   * — whether or not it held anything, since it may have died between freeing a slot and waking the others. Returns the
   * slots freed.
   */
  releaseAllOwnedBy(owner: number): number {
    const freed = this.slots.reclaim(owner);
    this.line.forget(owner);
    this.line.wakeAll();
    return freed;
  }
}
