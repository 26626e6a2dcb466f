/**
 * Priority tiers (issue 31): who goes first when there is not enough. A
 * client has a tier — CLIENT_TIERS, or its key's in the durable mode — and an
 * order may be sent at a lower one (the Order-Tier header), never a higher
 * one. While there is room a tier changes nothing; near the edge, each tier
 * may fill each scarce thing only up to its ceiling (TIER_CEILINGS: free 70%,
 * standard 90%, critical 100%), so the top of every one is kept for the tiers
 * above, and shedding goes free first, then standard, then critical. In
 * every queue that forms, a higher tier goes first, fairly within a tier, and
 * a waiter's tier rises as it waits (src/shares/fair-share.ts).
 */

/** Best first: a tier's rank is its index here (0 goes first). */
export const TIERS = ['critical', 'standard', 'free'] as const;
export type Tier = (typeof TIERS)[number];

/** The tier of a client nothing names. */
export const DEFAULT_TIER: Tier = 'standard';

/** The rank a queue orders by: 0 for critical, the best. */
export function rankOf(tier: Tier): number {
  return TIERS.indexOf(tier);
}

export function isTier(value: string): value is Tier {
  return (TIERS as readonly string[]).includes(value);
}

/**
 * The tier an order runs at: the one asked for if it is the client's own or lower; the client's own if it asks for
 * more (a raise is ignored, never honoured).
 */
export function loweredTier(own: Tier, asked: Tier | undefined): Tier {
  return asked !== undefined && rankOf(asked) > rankOf(own) ? asked : own;
}

/** Per tier, the share (0 to 1) of each scarce thing its new orders may fill; critical's is always 1. */
export type TierCeilings = Readonly<Record<Tier, number>>;

export const DEFAULT_TIER_CEILINGS: TierCeilings = { critical: 1, standard: 0.9, free: 0.7 };

/**
 * What a tier's ceiling bounds at admission (`MAX_INFLIGHT`, `POOL_QUEUE_LIMIT`, `ORDER_RECORDS_MAX_MB`, and how late
 * the event loop runs against LOOP_LATE_MS).
 */
export type TierBounded = 'orders_in_flight' | 'pool_queue' | 'records' | 'event_loop';

/**
 * How late the main thread's event loop may run before every tier but critical is shed: free's new orders are shed
 * once it is 70 ms late (its ceiling of this), standard's at 90. A loop that late already adds that much to every
 * answer; what it still has goes to the orders that matter most.
 */
export const LOOP_LATE_MS = 100;
