/**
 * Each client's share of something held per client, counted here (issue 28,
 * issue 77): the webhook sends under way at once, the deliveries owed —
 * waiting for their first attempt or their next — and the connections a
 * client holds. One client whose endpoint is slow or failing, whose events
 * flood, or whose sockets trickle must not hold every unit, and so hold up,
 * drop or shut out another client's. The rule is fair-share.ts's: every
 * active client — one holding something, or that asked in the last
 * ACTIVE_MS — has its floor of the capacity by its weight (CLIENT_WEIGHTS),
 * and goes beyond it only while what stays free covers the other active
 * clients' unused floors. A newcomer's floor (weight 1) is always kept free
 * too: what holds these cannot tell which clients exist, and any client may
 * ask next — so a client alone may hold about half, and the next client's
 * first unit never waits for, nor is dropped for, another's. Uncapped
 * otherwise (the floors are what isolates): a lone client keeps that half.
 *
 * Who waits for a unit is the holder's to keep; between clients waiting, the
 * one holding fewest per unit of its weight goes first (`first`); a client
 * holding beyond its room now (`room`) is the one to give a unit back.
 */
import { fitsShare, floorOf, NEWCOMER_WEIGHT, turnOrder, unusedFloors, type Sharers } from './fair-share.js';

/** How long a client that asked keeps its floor. */
const ACTIVE_MS = 2000;

export class HeldShares {
  private readonly held = new Map<string, number>();
  private total = 0;
  private readonly lastAsked = new Map<string, number>();

  constructor(
    /** Units held at once, at most, for all clients. */
    readonly capacity: number,
    private readonly weights: ReadonlyMap<string, number>,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Take a unit for `client` if its share allows it now; if not, it counts as active (its floor is kept). */
  tryTake(client: string): boolean {
    if (!this.fits(client)) return false;
    this.hold(client);
    return true;
  }

  /** Whether `client`'s share allows it one more unit now, taking none; it counts as active (its floor is kept). */
  fits(client: string): boolean {
    this.lastAsked.set(client, this.now());
    return this.fitsOneMore(client, this.sharers());
  }

  /** A unit `client` holds whatever its share (one it took before its client was known: a connection). */
  hold(client: string): void {
    this.lastAsked.set(client, this.now());
    this.held.set(client, this.heldOf(client) + 1);
    this.total++;
  }

  /** The clients holding units whose share allows no more now: whose work is best left unclaimed for a while. */
  full(): string[] {
    const sharers = this.sharers();
    return [...this.held.keys()].filter((client) => !this.fitsOneMore(client, sharers));
  }

  /** `count` units of `client`'s are given back. */
  give(client: string, count = 1): void {
    const held = this.heldOf(client) - count;
    if (held > 0) this.held.set(client, held);
    else this.held.delete(client);
    this.total -= count;
    this.lastAsked.set(client, this.now());
  }

  heldOf(client: string): number {
    return this.held.get(client) ?? 0;
  }

  /**
   * Each client's holdings as counted elsewhere (the durable mode's owed deliveries, read from Postgres), in place of
   * what was taken here: every client named is active.
   */
  recount(holdings: ReadonlyMap<string, number>): void {
    this.held.clear();
    this.total = 0;
    const at = this.now();
    for (const [client, count] of holdings) {
      if (count <= 0) continue;
      this.held.set(client, count);
      this.total += count;
      this.lastAsked.set(client, at);
    }
  }

  /**
   * The units `client` may hold now, all told: its floor, or what it holds and what is free less the other active
   * clients' unused floors, whichever is more (what `tryTake` would allow, one unit at a time).
   */
  room(client: string): number {
    const sharers = this.sharers();
    const held = this.heldOf(client);
    const floor = floorOf(this.capacity, sharers.active.get(client) ?? 0, sharers.totalWeight);
    const keptForOthers = unusedFloors(this.capacity, sharers, (name) => this.heldOf(name), client);
    return Math.max(floor, held + this.capacity - this.total - keptForOthers);
  }

  /** Of `clients` waiting for a unit, the one whose turn comes first. */
  first(clients: Iterable<string>): string | undefined {
    let best: string | undefined;
    for (const client of clients) {
      if (
        best === undefined ||
        turnOrder(this.heldOf(client), this.weightOf(client), this.heldOf(best), this.weightOf(best)) < 0
      )
        best = client;
    }
    return best;
  }

  private fitsOneMore(client: string, sharers: Sharers): boolean {
    return fitsShare(
      {
        held: this.heldOf(client) + 1,
        floor: floorOf(this.capacity, sharers.active.get(client) ?? 0, sharers.totalWeight),
        cap: Infinity,
      },
      {
        capacity: this.capacity,
        busy: this.total + 1,
        keptForOthers: unusedFloors(this.capacity, sharers, (name) => this.heldOf(name), client),
      },
    );
  }

  private weightOf(client: string): number {
    return this.weights.get(client) ?? NEWCOMER_WEIGHT;
  }

  private sharers(): Sharers {
    const since = this.now() - ACTIVE_MS;
    const active = new Map<string, number>();
    let weights = 0;
    for (const [client, at] of this.lastAsked) {
      if (at < since && this.heldOf(client) === 0) {
        this.lastAsked.delete(client);
        continue;
      }
      const weight = this.weightOf(client);
      active.set(client, weight);
      weights += weight;
    }
    return { active, newcomer: NEWCOMER_WEIGHT, totalWeight: weights + NEWCOMER_WEIGHT };
  }
}
