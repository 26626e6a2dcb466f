/**
 * The clients sharing this service, as the bulkheads see them: who exists,
 * what each weighs, and the small index each is known by in shared memory.
 *
 * A client exists for sharing once it is configured (API_KEYS, CLIENT_WEIGHTS)
 * or has sent an order. While one client exists — in open mode, the one
 * anonymous client — nothing is capped and the service behaves as if there
 * were no bulkheads; once a second exists, and CLIENT_MAX_SHARE is below 1,
 * every per-client cap applies (`capped`), for good: clients are never
 * forgotten while the process runs (they are as many as the keys issued).
 *
 * Indices are handed out in order of appearance, from 0; the last one is
 * shared by every client beyond the others (its overflow): those clients are
 * one client to the courier semaphore, which keeps its fairness in a fixed
 * table of `indices` entries.
 */
import { DEFAULT_TIER, type Tier } from '../domain/tier.js';

export interface ClientEntry {
  readonly name: string;
  /** Its priority tier: CLIENT_TIERS', or its key's once an order came with it (standard by default). */
  readonly tier: Tier;
  /** Its index in shared memory; the overflow index when shared with others. */
  readonly index: number;
  /** Its weight in every fair share (CLIENT_WEIGHTS, default 1). */
  readonly weight: number;
}

/** What a client was refused, counted for the metrics and the thread view. */
export type ClientRefusal = 'shed_orders_in_flight' | 'shed_records' | 'rate_limited';

export interface ClientTally extends ClientEntry {
  readonly refused: Readonly<Record<ClientRefusal, number>>;
}

export interface ClientBookOptions {
  /** CLIENT_WEIGHTS. */
  readonly weights: ReadonlyMap<string, number>;
  /** CLIENT_TIERS; without: every client standard until its key says. */
  readonly tiers?: ReadonlyMap<string, Tier>;
  /** Clients that exist from the start: the configured ones. */
  readonly configured: readonly string[];
  /** How many indices shared memory has room for; the last is the overflow's. */
  readonly indices: number;
  /** CLIENT_MAX_SHARE: below 1, caps apply once a second client exists. */
  readonly maxShare: number;
}

interface Kept extends ClientEntry {
  tier: Tier;
  readonly refused: Record<ClientRefusal, number>;
}

export class ClientBook {
  private readonly clients = new Map<string, Kept>();
  private readonly weights: ReadonlyMap<string, number>;
  private readonly tiers: ReadonlyMap<string, Tier>;
  private readonly overflow: number;
  private readonly maxShare: number;
  private readonly listeners: Array<(entry: ClientEntry) => void> = [];
  private weightsTogether = 0;

  constructor({ weights, tiers = new Map(), configured, indices, maxShare }: ClientBookOptions) {
    this.tiers = tiers;
    if (!Number.isInteger(indices) || indices < 1)
      throw new RangeError(`indices must be a positive integer, got ${indices}`);
    this.weights = weights;
    this.overflow = indices - 1;
    this.maxShare = maxShare;
    for (const name of configured) this.entryOf(name);
  }

  /** The client, which exists from now on if it did not already. */
  entryOf(name: string): ClientEntry {
    return this.kept(name);
  }

  private kept(name: string): Kept {
    const known = this.clients.get(name);
    if (known) return known;
    const entry: Kept = {
      name,
      index: Math.min(this.clients.size, this.overflow),
      weight: this.weights.get(name) ?? 1,
      tier: this.tiers.get(name) ?? DEFAULT_TIER,
      refused: { shed_orders_in_flight: 0, shed_records: 0, rate_limited: 0 },
    };
    this.clients.set(name, entry);
    this.weightsTogether += entry.weight;
    for (const listener of this.listeners) listener(entry);
    return entry;
  }

  /** Clients that exist. */
  get count(): number {
    return this.clients.size;
  }

  /** The weights of every client that exists, together: the lasting floors' denominator (src/fairness/fair-share.ts). */
  get totalWeight(): number {
    return this.weightsTogether;
  }

  /** Whether the per-client caps apply: more than one client exists, and CLIENT_MAX_SHARE is below 1. */
  get capped(): boolean {
    return this.clients.size > 1 && this.maxShare < 1;
  }

  /** CLIENT_MAX_SHARE. */
  get share(): number {
    return this.maxShare;
  }

  /** Told of every client as it comes to exist (those that already do are told at once). */
  onEntry(listener: (entry: ClientEntry) => void): void {
    this.listeners.push(listener);
    for (const entry of this.clients.values()) listener(entry);
  }

  /** The client's tier, as its key says (the durable mode: `npm run keys -- tier`). */
  tierIs(name: string, tier: Tier): void {
    const kept = this.kept(name);
    if (kept.tier !== tier) kept.tier = tier;
  }

  /** Count something the client was refused. */
  refused(name: string, why: ClientRefusal): void {
    this.kept(name).refused[why]++;
  }

  /** Every client that exists, in order of appearance, with what it was refused since start. */
  tallies(): readonly ClientTally[] {
    return [...this.clients.values()];
  }
}
