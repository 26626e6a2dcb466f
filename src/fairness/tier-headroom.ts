/**
 * Reserved headroom at admission: each tier's new orders may fill
 * each scarce thing — the orders in flight (MAX_INFLIGHT), the pool's queue
 * (POOL_QUEUE_LIMIT) and the order records' memory (ORDER_RECORDS_MAX_MB) —
 * only up to its ceiling (TIER_CEILINGS: free 70%, standard 90%, critical
 * 100%); above it they are shed, 503 overloaded naming the tier, and the rest
 * is kept for the tiers above. So as the service fills, free is shed first,
 * then standard, then critical.
 *
 * The event loop too: once it runs late — its timers fire TIER_CEILINGS of
 * LOOP_LATE_MS (100 ms) late or more — free's new orders are shed, then
 * standard's; critical's never for this (MAX_INFLIGHT and the pool's queue
 * still bound it).
 *
 * A ceiling keeps room only for a better tier that is in play: one a client
 * is configured with (CLIENT_TIERS), or one an order has come with since the
 * process started. Without tiers every order is standard, nothing better
 * exists, and nothing is kept: a tier changes nothing for a service that
 * names none, overloaded or not.
 *
 * An order that waits for room (./admission-line.ts) ages (./tiers.ts), and
 * its ceiling with it: a free order that has waited 2 × TIER_AGING_MS may
 * fill what a critical one may.
 *
 * Asked from the admission callback with nothing awaited, after the
 * per-client shares: a few reads of counters kept elsewhere, no scan.
 */
import { DEFAULT_TIER, rankOf, TIERS, type Tier } from '../domain/tier.js';
import { agedRank, ceilingOf, LOOP_LATE_MS, type TierBounded, type TierCeilings } from './tiers.js';

/** A tier's ceiling is reached: what, how much of it is used, and the most its orders may fill. */
export interface TierFull {
  readonly tier: Tier;
  readonly bounded: TierBounded;
  readonly used: number;
  readonly limit: number;
}

export interface TierHeadroomOptions {
  readonly ceilings: TierCeilings;
  /** MAX_INFLIGHT. */
  readonly maxInflight: number;
  /** POOL_QUEUE_LIMIT, and the tasks waiting in the pool's queue now. */
  readonly poolQueueLimit: number;
  readonly poolQueued: () => number;
  /** ORDER_RECORDS_MAX_MB, in bytes, and the bytes kept now (undefined where records are not in memory). */
  readonly recordsMaxBytes: number;
  readonly recordsBytes: () => number | undefined;
  /**
   * How late the event loop runs now because of the work it admits, in milliseconds (src/composition/loop-lateness.ts;
   * 0 while a keyless flood is metered: shedding orders would not relieve it); without: never late.
   */
  readonly loopLateMs?: () => number;
  /** Tiers clients are configured with (CLIENT_TIERS): in play from the start. */
  readonly configured: Iterable<Tier>;
}

export class TierHeadroom {
  /** The best rank in play: a ceiling applies only to worse ones. */
  private best: number;
  /** Whether a tier other than the default is in play. */
  private tieredNow = false;
  private readonly ordersLimit: Readonly<Record<Tier, number>>;
  private readonly queueLimit: Readonly<Record<Tier, number>>;
  private readonly recordsLimit: Readonly<Record<Tier, number>>;
  private readonly loopLimit: Readonly<Record<Tier, number>>;

  constructor(private readonly options: TierHeadroomOptions) {
    this.best = rankOf(DEFAULT_TIER);
    for (const tier of options.configured) this.seen(tier);
    const limits = (total: number): Record<Tier, number> =>
      Object.fromEntries(TIERS.map((tier) => [tier, ceilingOf(total, options.ceilings[tier])])) as Record<Tier, number>;
    this.ordersLimit = limits(options.maxInflight);
    this.queueLimit = limits(options.poolQueueLimit);
    this.recordsLimit = limits(options.recordsMaxBytes);
    this.loopLimit = limits(LOOP_LATE_MS);
  }

  /** The tier whose order comes is in play from now on. */
  seen(tier: Tier): void {
    const rank = rankOf(tier);
    if (rank < this.best) this.best = rank;
    if (tier !== DEFAULT_TIER) this.tieredNow = true;
  }

  /** Whether a tier other than the default is in play: configured, or an order came with one. */
  get tiered(): boolean {
    return this.tieredNow;
  }

  /** The best rank in play: no waiter ages past it. */
  get bestRank(): number {
    return this.best;
  }

  /**
   * Whether a new order of `tier` would take something past its tier's ceiling, `ordersInFlight` being in flight: the
   * ceiling of its tier aged by `waitedMs` waiting for room (a TierFull names its own tier).
   */
  fullFor(tier: Tier, ordersInFlight: number, waitedMs = 0): TierFull | undefined {
    this.seen(tier);
    const aged = TIERS[agedRank(rankOf(tier), waitedMs, this.best)]!;
    if (rankOf(aged) <= this.best || this.options.ceilings[aged] >= 1) return undefined;
    return this.pastCeiling(tier, aged, ordersInFlight);
  }

  /** Whether a new order of `tier` would take something past the ceiling of `aged`. */
  private pastCeiling(tier: Tier, aged: Tier, ordersInFlight: number): TierFull | undefined {
    const orders = this.ordersLimit[aged];
    if (ordersInFlight >= orders) return { tier, bounded: 'orders_in_flight', used: ordersInFlight, limit: orders };
    const { poolQueueLimit, recordsMaxBytes } = this.options;
    if (poolQueueLimit > 0) {
      const queued = this.options.poolQueued();
      const limit = this.queueLimit[aged];
      if (queued >= limit) return { tier, bounded: 'pool_queue', used: queued, limit };
    }
    const bytes = recordsMaxBytes > 0 ? this.options.recordsBytes() : undefined;
    if (bytes !== undefined && bytes >= this.recordsLimit[aged])
      return { tier, bounded: 'records', used: bytes, limit: this.recordsLimit[aged] };
    const late = this.options.loopLateMs?.() ?? 0;
    if (late >= this.loopLimit[aged])
      return { tier, bounded: 'event_loop', used: Math.round(late), limit: this.loopLimit[aged] };
    return undefined;
  }
}
