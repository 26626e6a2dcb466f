/**
 * Each client's share of something held per client, counted here: the webhook sends under way at once, the deliveries owed
 * waiting for their first attempt or their next — and the connections a
 * client holds. One client whose endpoint is slow or failing, whose events
 * flood, or whose sockets trickle must not hold every unit, and so hold up,
 * drop or shut out another client's. The rule is fair-share.ts's: every
 * active client — one holding something, or that asked in the last
 * ACTIVE_MS — has its floor of the capacity by its weight (CLIENT_WEIGHTS),
 * and goes beyond it only while what stays free covers the other active
 * clients' unused floors. A newcomer's floor (weight 1) is kept free too,
 * always unless the holder says otherwise: what holds these cannot tell which
 * clients exist, and any client may ask next — so a client alone may hold about half, and the next client's
 * first unit never waits for, nor is dropped for, another's. Uncapped
 * otherwise (the floors are what isolates): a lone client keeps that half.
 *
 * Who waits for a unit is the holder's to keep; between clients waiting, the
 * one holding fewest per unit of its weight goes first (`first`); a client
 * holding beyond its room now (`room`) is the one to give a unit back.
 */
import { ActiveClients } from './active-clients.js';
import { firstInTurn, mayTakeOne, NEWCOMER_WEIGHT, roomOf, type Holdings, type Sharers } from './fair-share.js';

/** How long a client that asked keeps its floor. */
const ACTIVE_MS = 2000;

export class HeldShares implements Holdings {
  private readonly held = new Map<string, number>();
  private total = 0;
  private readonly activity: ActiveClients;

  constructor(
    /** Units held at once, at most, for all clients. */
    readonly capacity: number,
    private readonly weights: ReadonlyMap<string, number>,
    now: () => number = () => performance.now(),
    /**
     * The weight kept for a newcomer, `active` clients being active: NEWCOMER_WEIGHT always by default. A holder that
     * knows who has asked since it started keeps one only while one of those is idle (ClientWeights.newcomer).
     */
    private readonly newcomer: (active: number) => number = () => NEWCOMER_WEIGHT,
  ) {
    this.activity = new ActiveClients(ACTIVE_MS, now);
  }

  /** Units held, all clients'. */
  get busy(): number {
    return this.total;
  }

  /** Take a unit for `client` if its share allows it now; if not, it counts as active (its floor is kept). */
  tryTake(client: string): boolean {
    if (!this.fits(client)) return false;
    this.hold(client);
    return true;
  }

  /** Whether `client`'s share allows it one more unit now, taking none; it counts as active (its floor is kept). */
  fits(client: string): boolean {
    this.activity.asked(client);
    return mayTakeOne(client, this, this.sharers());
  }

  /** A unit `client` holds whatever its share (one it took before its client was known: a connection). */
  hold(client: string): void {
    this.activity.asked(client);
    this.held.set(client, this.heldOf(client) + 1);
    this.total++;
  }

  /** The clients holding units whose share allows no more now: whose work is best left unclaimed for a while. */
  full(): string[] {
    const sharers = this.sharers();
    return [...this.held.keys()].filter((client) => !mayTakeOne(client, this, sharers));
  }

  /** `count` units of `client`'s are given back. */
  give(client: string, count = 1): void {
    const held = this.heldOf(client) - count;
    if (held > 0) this.held.set(client, held);
    else this.held.delete(client);
    this.total -= count;
    this.activity.asked(client);
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
    for (const [client, count] of holdings) {
      if (count <= 0) continue;
      this.held.set(client, count);
      this.total += count;
      this.activity.asked(client);
    }
  }

  /** The units `client` may hold now, all told (what `tryTake` would allow, one unit at a time). */
  room(client: string): number {
    return roomOf(client, this, this.sharers());
  }

  /** Of `clients` waiting for a unit, the one whose turn comes first. */
  first(clients: Iterable<string>): string | undefined {
    return firstInTurn(
      clients,
      (client) => this.heldOf(client),
      (client) => this.weightOf(client),
    );
  }

  private weightOf(client: string): number {
    return this.weights.get(client) ?? NEWCOMER_WEIGHT;
  }

  private sharers(): Sharers {
    return this.activity.sharers({
      heldOf: (client) => this.heldOf(client),
      weightOf: (client) => this.weightOf(client),
      newcomer: this.newcomer,
    });
  }
}
