/**
 * Tiers in every decision of src/fairness/ (the words are CONTRIBUTING.md's glossary: tier, rank, ceiling, headroom,
 * aging, turn). What a tier is, and which one an order runs at, is src/domain/tier.ts's; here is what a tier changes
 * when there is not enough:
 * - a ceiling: each tier's new units may fill each scarce thing only up to its share of it (TIER_CEILINGS); the rest,
 *   the headroom, is kept for the tiers above (./tier-headroom.ts);
 * - the turn: a waiter of a better rank goes before one of a worse, and the fair share (./fair-share.ts) decides
 *   only within a rank;
 * - aging: a waiter's rank rises one step per TIER_AGING_MS it waits, never past the best rank in play or waiting, and
 *   its ceiling rises with it. So a free waiter that a stream of critical ones would keep behind for ever is level
 *   with them after 2 × TIER_AGING_MS, then served by the fair share (its client holds less).
 */
import { DEFAULT_TIER, rankOf, TIERS, type Tier } from '../domain/tier.js';
import { turnOrder } from './fair-share.js';

/** Ranks there are: one per tier, best (0: critical) first. */
export const RANKS: number = TIERS.length;

/** The rank of a waiter that names no tier. */
export const DEFAULT_RANK = rankOf(DEFAULT_TIER);

/**
 * How long a waiter waits to rise one rank. 500 ms: a free order rises to critical in 1 s, inside the shortest deadline
 * worth serving (a 2 s one still has half of it), while a critical order's wait behind one free order is never more
 * than one step's length.
 */
export const TIER_AGING_MS = 500;

/** A waiter's rank once aged: its own, one better per TIER_AGING_MS waited, never better than `best`. */
export function agedRank(rank: number, waitedMs: number, best: number): number {
  return Math.max(best, rank - Math.floor(Math.max(0, waitedMs) / TIER_AGING_MS));
}

/**
 * Whose turn comes first between two waiters, tiers counted: the better aged rank (agedRank), then turnOrder. Negative
 * for the first, positive for the second, 0 for a tie (the caller breaks it, oldest first).
 */
export function tieredTurnOrder(
  rank: number,
  held: number,
  weight: number,
  otherRank: number,
  otherHeld: number,
  otherWeight: number,
): number {
  return rank !== otherRank ? rank - otherRank : turnOrder(held, weight, otherHeld, otherWeight);
}

/** Per tier, the share (0 to 1) of each scarce thing its new units may fill; critical's is always 1. */
export type TierCeilings = Readonly<Record<Tier, number>>;

export const DEFAULT_TIER_CEILINGS: TierCeilings = { critical: 1, standard: 0.9, free: 0.7 };

/** ⌊total × ceiling⌋, at least 1 of anything there is: a tier is shed near the edge, never shut out. */
export function ceilingOf(total: number, ceiling: number): number {
  return total > 0 ? Math.max(1, Math.floor(Math.round(total * ceiling * 1000) / 1000)) : 0;
}

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
