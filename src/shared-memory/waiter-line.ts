/**
 * One read of the courier line (src/shared-memory/courier-line.ts): the waiters published at one instant, and whose
 * turn comes next, then next after that, as slots are granted one by one.
 *
 * Why a read is kept: the turn is a rule over every waiter (tier, share, ticket), and a look that reads them all costs
 * as much as there are waiters. Made once per slot granted, a burst of slots freed together cost a thread one read of
 * every waiter per slot — in `wide`, one pass granting 240 slots ran 237 ms over 8,809 waiters, in which its thread's
 * progress stood still and it was judged stuck. Read once, a line serves each next turn in O(clients × ranks + log
 * waiters): waiters are queued per client and per rank aged at the read (within one client, held slots and weight are
 * the same for all, so the oldest ticket of the best aged rank is the client's candidate), and clients are compared as
 * the rule compares them.
 *
 * What it does not see: waiters published and slots taken or freed by other threads after the read. Whoever changes the
 * line wakes every dispatcher, which reads it afresh; and the holder of a read takes each slot with the semaphore's own
 * checks, so a stale read can only misorder a turn, never grant past a cap.
 */
import { agedRank, RANKS, tieredTurnOrder } from '../fairness/tiers.js';
import { before, TicketHeap } from './ticket-heap.js';

/** Slots as the line counts them: at the read, then with each grant and release of the holder of the read. */
export interface LineCounts {
  /** Slots held per client index (indices at or past its length hold nothing: nobody's). */
  readonly held: Int32Array;
  /** Slots lent to this instance's steps (not held ELSEWHERE). */
  lent: number;
  /** Slots held by steps. */
  busy: number;
  /** The most one client holds. */
  mostHeld: number;
}

/** What the semaphore decides for the line. */
export interface TurnRules {
  /** Whether a waiter of `client` may take one more slot, as `counts` say. */
  mayTakeOne(client: number, counts: LineCounts): boolean;
  /** Whether a waiter of aged rank `rank` may take one more slot, as `counts` say (its tier's ceiling). */
  rankMayTake(rank: number, counts: LineCounts): boolean;
  /** A client's weight in the fair share (1 for nobody's). */
  weightOf(client: number): number;
}

/**
 * One client's waiters, by rank as aged at the read (each a heap by ticket), and counted by their own rank. Kept from
 * read to read, emptied by each.
 */
class ClientQueue {
  readonly byAgedRank: TicketHeap[];
  readonly ownRanks = new Int32Array(RANKS);
  remaining = 0;
  weight = 1;
  /** In this read's list of queues. */
  listed = false;
  /** Whether it may take a slot at the current look; the rank and candidate it offers. */
  eligible = false;
  head = -1;
  headRank = 0;

  constructor(
    readonly client: number,
    tickets: Int32Array,
  ) {
    this.byAgedRank = Array.from({ length: RANKS }, () => new TicketHeap(tickets));
  }

  empty(): void {
    for (const waiting of this.byAgedRank) waiting.size = 0;
    this.ownRanks.fill(0);
    this.remaining = 0;
    this.listed = false;
  }

  bestAgedRank(): number {
    for (let rank = 0; rank < RANKS; rank++) if (this.byAgedRank[rank]!.size > 0) return rank;
    return RANKS;
  }

  bestOwnRank(): number {
    for (let rank = 0; rank < RANKS; rank++) if (this.ownRanks[rank]! > 0) return rank;
    return RANKS;
  }
}

export class WaiterLine {
  readonly counts: LineCounts;
  // By candidate (the order read), as long as the waiter table: a read of thousands of waiters leaves no garbage.
  private readonly entries: Int32Array;
  private readonly tickets: Int32Array;
  private readonly ownRanks: Uint8Array;
  private readonly agedRanks: Uint8Array;
  private candidates = 0;
  private readonly queues: ClientQueue[] = [];
  private readonly queueOf = new Map<number, ClientQueue>();
  /** The queue whose head next() returned. */
  private chosen: ClientQueue | undefined;
  /** The worse aged ranks' tiers at their ceiling, at the current look: waiters aged only to those wait. */
  private worstAllowed = RANKS - 1;

  /** `held`: the counts' array, filled by the reader (`clients` indices). */
  constructor(
    private readonly rules: TurnRules,
    clients: number,
    /** The most waiters a read holds: the waiter table's entries. */
    capacity: number,
  ) {
    this.counts = { held: new Int32Array(clients), lent: 0, busy: 0, mostHeld: 0 };
    this.entries = new Int32Array(capacity);
    this.tickets = new Int32Array(capacity);
    this.ownRanks = new Uint8Array(capacity);
    this.agedRanks = new Uint8Array(capacity);
  }

  /** Forget the last read, for a new one; the counts are the reader's to fill. */
  reset(): void {
    this.candidates = 0;
    for (const queue of this.queues) queue.empty();
    this.queues.length = 0;
    this.chosen = undefined;
    const { counts } = this;
    counts.held.fill(0);
    counts.lent = 0;
    counts.busy = 0;
    counts.mostHeld = 0;
  }

  /**
   * A waiter as read: its entry, ticket, client index, own rank (0: critical), and how long it had waited (ms). Added
   * in any order; `ready()` after the last.
   */
  add(entry: number, ticket: number, client: number, ownRank: number, waitedMs: number): void {
    const candidate = this.candidates++;
    // A typed array drops a write past its end without a word: a line longer than the table is a bug, said aloud.
    if (candidate >= this.entries.length) throw new RangeError(`more than ${this.entries.length} waiters in one read`);
    this.entries[candidate] = entry;
    this.tickets[candidate] = ticket;
    this.ownRanks[candidate] = ownRank;
    const aged = agedRank(ownRank, waitedMs, 0);
    this.agedRanks[candidate] = aged;
    let queue = this.queueOf.get(client);
    if (queue === undefined) {
      queue = new ClientQueue(client, this.tickets);
      this.queueOf.set(client, queue);
    }
    if (!queue.listed) {
      queue.listed = true;
      queue.weight = this.rules.weightOf(client);
      this.queues.push(queue);
    }
    queue.byAgedRank[aged]!.push(candidate);
    queue.ownRanks[ownRank]!++;
    queue.remaining++;
  }

  /** The line is read: each queue made a heap by ticket (oldest on top). */
  ready(): void {
    for (const queue of this.queues) for (const waiting of queue.byAgedRank) waiting.heapify();
  }

  /**
   * The entry whose turn it is, -1 if nobody's may come now: among clients that may take a slot and waiters whose aged
   * rank's tier is below its ceiling, the best aged rank (no better than the best own rank waiting: agedRank), then the
   * client holding the fewest slots per unit of weight, then the oldest ticket. Settle it with `taken()` (it got a
   * slot, here or on its own thread) or `gone()`.
   */
  next(): number {
    this.chosen = undefined;
    // A worse rank's ceiling is never above a better one's (TIER_CEILINGS are checked so): the ranks allowed are the best ones.
    let worst = RANKS - 1;
    while (worst > 0 && !this.rules.rankMayTake(worst, this.counts)) worst--;
    this.worstAllowed = worst;
    let best = RANKS;
    for (const queue of this.queues) {
      queue.eligible =
        queue.remaining > 0 && queue.bestAgedRank() <= worst && this.rules.mayTakeOne(queue.client, this.counts);
      if (queue.eligible) best = Math.min(best, queue.bestOwnRank());
    }
    if (best === RANKS) return -1;
    let chosen: ClientQueue | undefined;
    for (const queue of this.queues) {
      if (!queue.eligible) continue;
      this.offer(queue, best);
      if (chosen === undefined) {
        chosen = queue;
        continue;
      }
      const order = tieredTurnOrder(
        queue.headRank,
        this.heldBy(queue.client),
        queue.weight,
        chosen.headRank,
        this.heldBy(chosen.client),
        chosen.weight,
      );
      if (order < 0 || (order === 0 && before(this.tickets[queue.head]!, this.tickets[chosen.head]!))) chosen = queue;
    }
    this.chosen = chosen!;
    return this.entries[chosen!.head]!;
  }

  /** The aged rank of the entry next() returned: its tier's ceiling is the one its take is held to. */
  get nextRank(): number {
    return this.agedRanks[this.chosen!.head]!;
  }

  /** The ticket of the entry next() returned: whether the entry still holds that waiter is the reader's check. */
  get nextTicket(): number {
    return this.tickets[this.chosen!.head]!;
  }

  /** The waiter next() returned got its slot: counted as held by its client. */
  taken(nobodys: boolean): void {
    const queue = this.remove();
    const { counts } = this;
    if (nobodys) {
      counts.lent--;
      return;
    }
    counts.busy++;
    if (queue.client < counts.held.length) counts.mostHeld = Math.max(counts.mostHeld, ++counts.held[queue.client]!);
  }

  /** The waiter next() returned had gone (served, withdrawn or canceled since the read): out of line, no slot. */
  gone(): void {
    this.remove();
  }

  /** The holder of the read freed a slot of `client` (-1: nobody's) held by a step, or given back from ELSEWHERE. */
  freed(client: number, elsewhere: boolean): void {
    const { counts } = this;
    if (elsewhere) {
      counts.lent++;
      return;
    }
    counts.busy = Math.max(0, counts.busy - 1);
    if (client >= 0 && client < counts.held.length && counts.held[client]! > 0) counts.held[client]!--;
  }

  private heldBy(client: number): number {
    return client < this.counts.held.length ? this.counts.held[client]! : 0;
  }

  /** The queue's candidate for `best`: the oldest of those whose aged rank reaches it, else the best aged rank's oldest. */
  private offer(queue: ClientQueue, best: number): void {
    queue.head = -1;
    for (let aged = 0; aged <= this.worstAllowed; aged++) {
      const waiting = queue.byAgedRank[aged]!;
      if (waiting.size === 0) continue;
      const oldest = waiting.top();
      const rank = Math.max(best, aged);
      if (queue.head >= 0 && (rank > queue.headRank || !before(this.tickets[oldest]!, this.tickets[queue.head]!)))
        continue;
      queue.head = oldest;
      queue.headRank = rank;
    }
  }

  private remove(): ClientQueue {
    const queue = this.chosen!;
    this.chosen = undefined;
    const candidate = queue.head;
    queue.byAgedRank[this.agedRanks[candidate]!]!.pop();
    queue.ownRanks[this.ownRanks[candidate]!]!--;
    queue.remaining--;
    return queue;
  }
}
