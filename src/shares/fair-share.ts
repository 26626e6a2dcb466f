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
 * units per unit of its weight. Priority tiers build on these three
 * functions: keep them the only place where a share is decided.
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
