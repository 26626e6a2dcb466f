/**
 * Each client's share of the webhook sends under way at once (issue 28,
 * isolation): one client whose endpoint is slow, or whose events flood,
 * must not hold every send and hold up another client's deliveries. The
 * rule is src/fairness/fair-share.ts's; here a client is active while it has
 * a send under way or for ACTIVE_MS after it asked for one, and a
 * newcomer's floor is always kept free too: delivery cannot tell
 * which clients exist, and any client with an endpoint may have an event
 * next — so a client alone may hold about half the sends, and the next
 * client's first delivery never waits for a slow one's. Uncapped otherwise
 * (the floors are what isolates): a lone client keeps that half busy.
 *
 * Who waits for a send is the relay's (or the lane's) to keep; between
 * clients waiting, the rule's turn decides (`first`).
 */
import { ActiveClients } from '../fairness/active-clients.js';
import { firstInTurn, mayTakeOne, NEWCOMER_WEIGHT, type Holdings, type Sharers } from '../fairness/fair-share.js';

/** How long a client that asked for a send keeps its floor. */
const ACTIVE_MS = 2000;

export class SendShares implements Holdings {
  private readonly held = new Map<string, number>();
  private total = 0;
  private readonly activity: ActiveClients;

  constructor(
    /** Sends under way at once, at most, for all clients. */
    readonly capacity: number,
    private readonly weights: ReadonlyMap<string, number>,
    now: () => number = () => performance.now(),
  ) {
    this.activity = new ActiveClients(ACTIVE_MS, now);
  }

  /** Sends under way, all clients'. */
  get busy(): number {
    return this.total;
  }

  /** Take a send for `client` if its share allows it now; if not, it counts as active (its floor is kept). */
  tryTake(client: string): boolean {
    this.activity.asked(client);
    if (!mayTakeOne(client, this, this.sharers())) return false;
    this.held.set(client, this.heldOf(client) + 1);
    this.total++;
    return true;
  }

  /** The clients holding sends whose share allows no more now: whose work is best left unclaimed for a while. */
  full(): string[] {
    const sharers = this.sharers();
    return [...this.held.keys()].filter((client) => !mayTakeOne(client, this, sharers));
  }

  /** A send of `client`'s has ended. */
  give(client: string): void {
    const held = this.heldOf(client) - 1;
    if (held > 0) this.held.set(client, held);
    else this.held.delete(client);
    this.total--;
    this.activity.asked(client);
  }

  heldOf(client: string): number {
    return this.held.get(client) ?? 0;
  }

  /** Of `clients` waiting for a send, the one whose turn comes first. */
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
      newcomer: () => NEWCOMER_WEIGHT,
    });
  }
}
