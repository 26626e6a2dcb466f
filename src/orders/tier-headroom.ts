/**
 * Reserved headroom at admission (issue 31): each tier's new orders may fill
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
 * Asked from the admission callback with nothing awaited, after the
 * per-client shares: a few reads of counters kept elsewhere, no scan.
 */
import { LOOP_LATE_MS, rankOf, TIERS, type Tier, type TierBounded, type TierCeilings } from '../domain/tier.js';

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
  private readonly ordersLimit: Readonly<Record<Tier, number>>;
  private readonly queueLimit: Readonly<Record<Tier, number>>;
  private readonly recordsLimit: Readonly<Record<Tier, number>>;
  private readonly loopLimit: Readonly<Record<Tier, number>>;

  constructor(private readonly options: TierHeadroomOptions) {
    this.best = rankOf('standard');
    for (const tier of options.configured) this.best = Math.min(this.best, rankOf(tier));
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
  }

  /** Whether a new order of `tier` would take something past its tier's ceiling, `ordersInFlight` being in flight. */
  fullFor(tier: Tier, ordersInFlight: number): TierFull | undefined {
    this.seen(tier);
    if (rankOf(tier) <= this.best || this.options.ceilings[tier] >= 1) return undefined;
    const orders = this.ordersLimit[tier];
    if (ordersInFlight >= orders) return { tier, bounded: 'orders_in_flight', used: ordersInFlight, limit: orders };
    const { poolQueueLimit, recordsMaxBytes } = this.options;
    if (poolQueueLimit > 0) {
      const queued = this.options.poolQueued();
      const limit = this.queueLimit[tier];
      if (queued >= limit) return { tier, bounded: 'pool_queue', used: queued, limit };
    }
    const bytes = recordsMaxBytes > 0 ? this.options.recordsBytes() : undefined;
    if (bytes !== undefined && bytes >= this.recordsLimit[tier])
      return { tier, bounded: 'records', used: bytes, limit: this.recordsLimit[tier] };
    const late = this.options.loopLateMs?.() ?? 0;
    if (late >= this.loopLimit[tier])
      return { tier, bounded: 'event_loop', used: Math.round(late), limit: this.loopLimit[tier] };
    return undefined;
  }
}

/** ⌊total × ceiling⌋, at least 1 of anything there is: a tier is shed near the edge, never shut out. */
function ceilingOf(total: number, ceiling: number): number {
  return total > 0 ? Math.max(1, Math.floor(Math.round(total * ceiling * 1000) / 1000)) : 0;
}
