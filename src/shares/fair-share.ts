/**
 * The one rule by which clients share what is scarce (issue 25): the orders
 * in flight (src/orders/client-shares.ts), the courier slots an instance
 * lends (src/shared-memory/slot-semaphore.ts) and the turns of thread time
 * (src/threads/cpu-turns.ts). Each keeps its own counts where they live —
 * a map, shared memory — and asks this module what they allow.
 *
 * Shares are caps and floors. A capped client holds at most its cap. Every
 * active client (one that has asked for an order lately, or has one in
 * flight) is guaranteed its floor, ⌊capacity × its weight / W⌋, W the
 * active clients' weights together — and while a client that exists is
 * idle, a newcomer's weight (1) too, so that a client arriving beside busy
 * ones finds its floor with its first request. A client below its floor
 * may take a unit whenever one is free; beyond its floor, only if what stays
 * free still covers the other active clients' floors that they do not use.
 *
 * Between waiting clients, the turn goes to the one holding the fewest
 * units per unit of its weight. Priority tiers (issue 31) come first: a
 * waiter of a better rank (0: critical) goes before one of a worse, and the
 * fair share decides only within a rank. A waiter's rank rises one step per
 * TIER_AGING_MS it waits — bounded: never past the best rank waiting, so
 * among waiters of one tier aging changes nothing, and a free waiter that a
 * stream of critical ones would keep behind for ever is level with them
 * after 2 × TIER_AGING_MS, then served by the fair share (its client holds
 * less). Keep these functions the only place where a share or a turn is
 * decided.
 */

/** Who shares the scarce things right now. */
export interface Sharers {
  /** The active clients that keep a floor, by name, with their weights. */
  readonly active: ReadonlyMap<string, number>;
  /** The weight kept for a newcomer: NEWCOMER_WEIGHT while a client that exists is idle, else 0. */
  readonly newcomer: number;
  /** The active weights together, the newcomer's included: the floors' denominator. */
  readonly totalWeight: number;
}

/** No floors: one client alone, or a resource nobody shares (the benchmarks). */
export const NO_SHARERS: Sharers = { active: new Map(), newcomer: 0, totalWeight: 0 };

/** The weight a newcomer is assumed to have, as CLIENT_WEIGHTS' default. */
export const NEWCOMER_WEIGHT = 1;

/** A client's floor of `capacity` units: ⌊capacity × weight / totalWeight⌋ (0 when nobody keeps a floor). */
export function floorOf(capacity: number, weight: number, totalWeight: number): number {
  return totalWeight > 0 && weight > 0 ? Math.floor((capacity * weight) / totalWeight) : 0;
}

/**
 * What the floors of the active clients other than `except` (and the newcomer's) keep free of `capacity` units and
 * their holders do not use; `heldOf` tells what each holds.
 */
export function unusedFloors(
  capacity: number,
  sharers: Sharers,
  heldOf: (client: string) => number,
  except?: string,
): number {
  let unused = floorOf(capacity, sharers.newcomer, sharers.totalWeight);
  for (const [client, weight] of sharers.active) {
    if (client !== except) unused += Math.max(0, floorOf(capacity, weight, sharers.totalWeight) - heldOf(client));
  }
  return unused;
}

/** One client's claim, the unit it asks for counted. */
export interface Claim {
  /** Units it would hold. */
  readonly held: number;
  readonly floor: number;
  /** Infinity when uncapped. */
  readonly cap: number;
}

/** The resource, the unit asked for counted. */
export interface Pool {
  readonly capacity: number;
  /** Units that would be held in all. */
  readonly busy: number;
  /** unusedFloors() of the other clients. */
  readonly keptForOthers: number;
}

/** Whether a client may hold what it claims: within its cap, and within its floor or beside the others' unused floors. */
export function fitsShare(claim: Claim, pool: Pool): boolean {
  return claim.held <= claim.cap && (claim.held <= claim.floor || pool.capacity - pool.busy >= pool.keptForOthers);
}

/**
 * Whose turn comes first between two waiting clients: negative for the first (it holds fewer units per unit of its
 * weight), positive for the second, 0 for a tie (the caller breaks it, oldest first).
 */
export function turnOrder(held: number, weight: number, otherHeld: number, otherWeight: number): number {
  // held / weight against otherHeld / otherWeight, without division.
  return held * otherWeight - otherHeld * weight;
}

/** Ranks there are: critical (0), standard, free (src/domain/tier.ts's TIERS, best first). */
export const RANKS = 3;

/** The rank of a waiter that names no tier: the middle one (standard). */
export const DEFAULT_RANK = 1;

/**
 * How long a waiter waits to rise one rank. 500 ms: a free order rises to critical in 1 s, inside the shortest deadline
 * worth serving (a 2 s one still has half of it), while a critical order's wait behind one free order is never more
 * than one step's length.
 */
export const TIER_AGING_MS = 500;

/** A waiter's rank once aged: its own, one better per TIER_AGING_MS waited, never better than `best` (the best waiting). */
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
