/**
 * Who is asking. Every request that is not public is made by a caller: a
 * client, known by the name its API key was issued under, whose orders are
 * its own — or the admin, who reaches the admin surface (and, when it sends
 * orders, is a client of its own named "admin"). In open mode (no keys
 * configured, loopback only) every request is the one anonymous client, and
 * admin too.
 */
import type { Tier } from '../domain/tier.js';

/** The client every request is in open mode. */
export const ANONYMOUS = 'anonymous';
/** The client the admin is when it sends orders. */
export const ADMIN = 'admin';
/** Names no issued key may take: they belong to the modes above. */
export const RESERVED_CLIENTS: readonly string[] = [ANONYMOUS, ADMIN];

/** A client's name: what its records and ledger entries are keyed by, and what the metrics label. */
export const CLIENT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export interface Caller {
  readonly client: string;
  /** May reach /threads, /metrics, /admin/…, and send `faults`. */
  readonly admin: boolean;
  /**
   * Which admin key it came with, as a fingerprint (src/auth/key-ring.ts), never the key: with several admin keys, an
   * audit line says which one acted. Absent for a client's key and in open mode.
   */
  readonly keyId?: string;
  /** Its key's priority tier, where the key says (`npm run keys`, the durable mode); else CLIENT_TIERS', or standard. */
  readonly tier?: Tier;
}

export const OPEN_MODE_CALLER: Caller = { client: ANONYMOUS, admin: true };
