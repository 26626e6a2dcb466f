/**
 * The one rule by which clients share every scarce thing (the words are CONTRIBUTING.md's glossary: unit, capacity,
 * held, weight, active, floor, cap, newcomer, turn). Who keeps the counts does not change: the orders in flight are
 * counted at admission (src/orders/client-shares.ts), the courier slots in shared memory
 * (src/shared-memory/slot-semaphore.ts), the turns of thread time by src/threads/cpu-turns.ts, the webhook sends by
 * ./held-shares.ts, the webhook lanes' statements by ./turn-line.ts. Each hands its counts to these functions
 * and does what they decide.
 *
 * A capped client holds at most its cap. Every active client is guaranteed its floor, ⌊capacity × its weight / W⌋, W
 * the active clients' weights together — and, while a client that exists is idle, a newcomer's weight too, so that a
 * client arriving beside busy ones finds its floor with its first request. A client below its floor may take a unit
 * whenever one is free; beyond its floor, only if what stays free still covers the other active clients' floors that
 * they do not use. Units already taken are not taken back, and a floor shrinks as clients arrive: keys that came one
 * after another keep the larger floors they came with until their units end, so a client within its floor may find
 * none free — whoever holds them holds beyond its floor now, and the first unit given back is the client's own (the
 * keeper makes it wait for it rather than refuse it: ./admission-line.ts for the orders in flight). Between waiting
 * clients, the turn goes to the one holding the fewest units per unit of its weight; tiers come before it (./tiers.ts).
 *
 * That wait is bounded, and so the floor holds only while what is held beyond the floors ends within it. A unit that
 * may be held longer than a client within its floor waits for one (an order of a minute's deadline, its caller gone)
 * is taken only within its client's lasting floor: its weight's part of the capacity among every client that exists
 * and a newcomer, the floor it keeps whoever comes. The lasting floors of the clients holding such units come to at
 * most the capacity less any other client's floor now, so what another client finds taken of its floor ends within
 * its wait, whatever the others' deadlines.
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
 * A client's lasting floor of `capacity` units: ⌊capacity × weight / (everyWeight + a newcomer's)⌋, `everyWeight` the
 * weights of every client that exists, active or not. Its floor is never less, whoever comes.
 */
export function lastingFloorOf(capacity: number, weight: number, everyWeight: number): number {
  return floorOf(capacity, weight, everyWeight + NEWCOMER_WEIGHT);
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

/** What one scarce thing's keeper counts: its capacity, the units held in all, and each client's. */
export interface Holdings {
  readonly capacity: number;
  readonly busy: number;
  heldOf(client: string): number;
}

/** Whether `client` may take one more unit of `holdings` now, its cap (Infinity: none) and the floors counted. */
export function mayTakeOne(client: string, holdings: Holdings, sharers: Sharers, cap = Infinity): boolean {
  const { capacity, busy } = holdings;
  return fitsShare(
    {
      held: holdings.heldOf(client) + 1,
      floor: floorOf(capacity, sharers.active.get(client) ?? 0, sharers.totalWeight),
      cap,
    },
    {
      capacity,
      busy: busy + 1,
      keptForOthers: unusedFloors(capacity, sharers, (name) => holdings.heldOf(name), client),
    },
  );
}

/** Whether one more unit keeps `client` within its floor of `holdings`: what it is guaranteed, whatever others hold. */
export function withinFloor(client: string, holdings: Holdings, sharers: Sharers): boolean {
  const floor = floorOf(holdings.capacity, sharers.active.get(client) ?? 0, sharers.totalWeight);
  return holdings.heldOf(client) + 1 <= floor;
}

/**
 * The units `client` may hold now, all told, its cap aside: its floor, or what it holds and what is free less the other
 * active clients' unused floors, whichever is more (what mayTakeOne allows, one unit at a time).
 */
export function roomOf(client: string, holdings: Holdings, sharers: Sharers): number {
  const { capacity, busy } = holdings;
  const floor = floorOf(capacity, sharers.active.get(client) ?? 0, sharers.totalWeight);
  const keptForOthers = unusedFloors(capacity, sharers, (name) => holdings.heldOf(name), client);
  return Math.max(floor, holdings.heldOf(client) + capacity - busy - keptForOthers);
}

/**
 * The most units of `capacity` one client may hold while another is there: ⌈capacity × share⌉, `share` to the
 * thousandth (CLIENT_MAX_SHARE) — but never all of them while there is more than one (60% of 2 rounds up to both).
 */
export function capOf(capacity: number, share: number): number {
  const cap = Math.ceil((capacity * Math.round(share * 1000)) / 1000);
  return capacity > 1 ? Math.min(cap, capacity - 1) : cap;
}

/** Of `clients` waiting, the one whose turn comes first (turnOrder; ties: the first named). */
export function firstInTurn(
  clients: Iterable<string>,
  heldOf: (client: string) => number,
  weightOf: (client: string) => number,
): string | undefined {
  let first: string | undefined;
  for (const client of clients) {
    if (first === undefined || turnOrder(heldOf(client), weightOf(client), heldOf(first), weightOf(first)) < 0)
      first = client;
  }
  return first;
}
