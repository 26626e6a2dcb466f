/**
 * The admission line: where an order refused for want of room — MAX_INFLIGHT, its tier's ceiling of the orders in
 * flight, its client's share of them — waits for a run to end, rather than being refused at once, while tiers are in
 * play. Refused at once, a free order under a critical flood never ages: every run that ends is taken by the next
 * critical arrival, and the free order's ceiling keeps it out (0 of 115 answered, one order at a time, beside a
 * critical flood of 1,000 orders a second with the caps off). Waiting here, it ages (./tiers.ts), and its ceiling with
 * it (./tier-headroom.ts): after 2 × TIER_AGING_MS it is level with the critical waiters, and the fair share gives it
 * the next turn, its client holding less.
 *
 * The line keeps the waiters; the turn is the rule's: when a run ends, the waiter whose turn it is among those that may
 * start now — the best aged rank, then the client holding the fewest orders in flight per unit of its weight, then the
 * oldest — is told to try again (its admission is checked afresh, with nothing awaited before its run is counted).
 * Within a client and a rank the oldest comes first, so a look reads one head per client and rank, not every waiter.
 * Places in the line are a scarce thing too, shared by the same rule (every active client keeps its floor of them): a
 * flood that fills the line leaves another client's order its place. A waiter waits at most `maxWaitMs`, then is
 * refused as it would have been at once.
 *
 * Without tiers only an order within its client's floor waits (./fair-share.ts): a floor is a guarantee, and what
 * fills MAX_INFLIGHT when it finds no room is held beyond others' floors — taken by keys that came first, while their
 * floors were larger — which no rule can take back before its run ends; the first run to end is its turn (it holds
 * fewer per unit of its weight than any client beyond its floor). Every other refusal comes at once, as it always did.
 */
import { mayTakeOne, turnOrder, type Holdings, type Sharers } from './fair-share.js';
import { agedRank, RANKS } from './tiers.js';

/** An order waiting for room, as the line sees it. */
export interface LineWaiter {
  readonly client: string;
  /** Its tier's own rank (0: critical). */
  readonly rank: number;
  /** When it began to wait (the line's clock): its age, kept through every try. */
  readonly since: number;
  /** Whether its admission would let it start now, its tier aged by `waitedMs`. */
  mayStart(waitedMs: number): boolean;
  /** Whether it would keep its client within its floor: the line is open to it without tiers too. */
  withinFloor(): boolean;
}

/** How a wait ended: its turn came (or it left), so try again; or it waited all it may, and is refused. */
export type WaitEnd = 'try_again' | 'waited';

export interface AdmissionLineOptions {
  /** Places: waiters at once, at most (MAX_INFLIGHT). */
  readonly places: number;
  /** The longest a waiter waits. */
  readonly maxWaitMs: number;
  /** Who is active (ClientShares.sharers), for the floors of the places. */
  readonly sharers: () => Sharers;
  /** A client's orders in flight, and its weight: the fair share within a rank. */
  readonly heldOf: (client: string) => number;
  readonly weightOf: (client: string) => number;
  /** The best rank in play (TierHeadroom.bestRank): no waiter ages past it. */
  readonly bestRank: () => number;
  /** Whether tiers are in play (a tier other than the default configured or seen): the line is open to all only then. */
  readonly tiered: () => boolean;
  readonly now?: () => number;
}

interface Waiting {
  readonly waiter: LineWaiter;
  readonly done: (end: WaitEnd) => void;
  readonly timer: NodeJS.Timeout;
  gone: boolean;
}

/** One client's waiters, per own rank, oldest first. */
interface ClientWaiters {
  readonly byRank: Waiting[][];
  count: number;
}

export class AdmissionLine {
  private readonly clients = new Map<string, ClientWaiters>();
  private waiting = 0;
  private readonly now: () => number;

  constructor(private readonly options: AdmissionLineOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * `waiter` waits for its turn: undefined if it may not wait (no tiers and beyond its client's floor, its wait already
   * spent, no place for its client), else how its wait ended.
   */
  join(waiter: LineWaiter): Promise<WaitEnd> | undefined {
    const left = this.options.maxWaitMs - (this.now() - waiter.since);
    if ((!this.options.tiered() && !waiter.withinFloor()) || left <= 0) return undefined;
    if (!mayTakeOne(waiter.client, this.placesHeld(), this.options.sharers())) return undefined;
    let queue = this.clients.get(waiter.client);
    if (!queue) {
      queue = { byRank: Array.from({ length: RANKS }, () => []), count: 0 };
      this.clients.set(waiter.client, queue);
    }
    const line = queue;
    return new Promise((resolve) => {
      const entry: Waiting = {
        waiter,
        gone: false,
        done: (end) => {
          if (entry.gone) return;
          entry.gone = true;
          clearTimeout(entry.timer);
          this.left(waiter.client, line);
          resolve(end);
        },
        timer: setTimeout(() => entry.done('waited'), left),
      };
      entry.timer.unref();
      line.byRank[Math.min(Math.max(0, waiter.rank), RANKS - 1)]!.push(entry);
      line.count++;
      this.waiting++;
    });
  }

  /** Waiters now. */
  get length(): number {
    return this.waiting;
  }

  /**
   * Room may have freed (a run ended): the waiter whose turn it is, of those that may start now, is told to try again.
   * One a call: the one told has not started yet, so the room still looks free.
   */
  roomFreed(): void {
    if (this.waiting === 0) return;
    const now = this.now();
    const best = this.options.bestRank();
    const heads: Array<{ entry: Waiting; aged: number }> = [];
    for (const queue of this.clients.values()) {
      for (const waiters of queue.byRank) {
        while (waiters.length > 0 && waiters[0]!.gone) waiters.shift();
        const entry = waiters[0];
        if (entry) heads.push({ entry, aged: agedRank(entry.waiter.rank, now - entry.waiter.since, best) });
      }
    }
    heads.sort((a, b) => this.turnBetween(a, b));
    for (const { entry } of heads) {
      if (!entry.waiter.mayStart(now - entry.waiter.since)) continue;
      entry.done('try_again');
      return;
    }
  }

  /** `waiter` is no longer waiting (its client went away): it is told to try again, and finds itself gone. */
  leave(waiter: LineWaiter): void {
    const queue = this.clients.get(waiter.client);
    for (const waiters of queue?.byRank ?? []) waiters.find((entry) => entry.waiter === waiter)?.done('try_again');
  }

  /** Negative when `a`'s turn comes first: the better aged rank, the fewest held per weight, then the oldest. */
  private turnBetween(a: { entry: Waiting; aged: number }, b: { entry: Waiting; aged: number }): number {
    if (a.aged !== b.aged) return a.aged - b.aged;
    const [x, y] = [a.entry.waiter.client, b.entry.waiter.client];
    const { heldOf, weightOf } = this.options;
    return turnOrder(heldOf(x), weightOf(x), heldOf(y), weightOf(y)) || a.entry.waiter.since - b.entry.waiter.since;
  }

  /** The places as the rule reads them. */
  private placesHeld(): Holdings {
    return {
      capacity: this.options.places,
      busy: this.waiting,
      heldOf: (client) => this.clients.get(client)?.count ?? 0,
    };
  }

  private left(client: string, queue: ClientWaiters): void {
    queue.count--;
    this.waiting--;
    if (queue.count === 0 && this.clients.get(client) === queue) this.clients.delete(client);
  }
}
