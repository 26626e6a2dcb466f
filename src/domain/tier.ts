/**
 * Priority tiers: who goes first when there is not enough. A client has a
 * tier — CLIENT_TIERS, or its key's in the durable mode — and an order may be
 * sent at a lower one (the Order-Tier header), never a higher one. While
 * there is room a tier changes nothing; what it changes near the edge
 * (ceilings, turns, aging) is src/fairness/tiers.ts's.
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
