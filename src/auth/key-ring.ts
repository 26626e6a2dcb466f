/**
 * The API keys this instance accepts, and who each one is. A key is never
 * kept or compared as given: it is hashed (SHA-256) as it arrives, and the
 * hash looked up — so how long a lookup takes says nothing about how much of
 * a key was right — then confirmed with a constant-time comparison of the
 * hashes. Keys are random and long (at least 32 characters of a 64-symbol
 * alphabet: 192 bits), so a fast hash is enough; a slow one would only cost
 * every request.
 *
 * Keys come from the configuration (API_KEYS, ADMIN_KEY) and, in the durable
 * mode, from Postgres (`npm run keys`): a `KeySource` is asked for a key's
 * hash it has not seen, and told to forget revoked ones.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Caller } from './caller.js';
import { ADMIN } from './caller.js';
import type { Tier } from '../domain/tier.js';

/** A key: at least 32 characters of A–Z a–z 0–9 _ - (API_KEYS, ADMIN_KEY, and keys issued by `npm run keys`). */
export const API_KEY = /^[A-Za-z0-9_-]{32,256}$/;

export type KeyHash = Buffer;

export const hashKey = (key: string): KeyHash => createHash('sha256').update(key, 'utf8').digest();

/**
 * What names a key in a log line: the first 48 bits of its SHA-256. It tells keys apart (which admin key acted, which
 * was added or removed) and says nothing a guess could use: a key has at least 192 random bits.
 */
export const keyFingerprint = (key: string): string => fingerprintOfHash(hashKey(key));
/** The same, from the key's hash (all Postgres keeps of a key). */
export const fingerprintOfHash = (hash: KeyHash): string => `sha256:${hash.toString('hex').slice(0, 12)}`;

/** Keys issued elsewhere (Postgres): who a key's hash belongs to, or undefined if nobody (revoked, or never issued). */
export interface KeySource {
  clientOf(hash: KeyHash): string | undefined;
  /** The key's own priority tier, if it has one (`npm run keys -- tier`). */
  tierOf?(hash: KeyHash): Tier | undefined;
  /** Live keys it knows. */
  readonly size: number;
  /** Told of keys issued and revoked after the first read, each by its client and fingerprint (the audit line). */
  onChange?(listener: (change: IssuedKeysChange) => void): void;
}

/** Keys issued or revoked, each named by its client and fingerprint, never the key. */
export interface IssuedKeysChange {
  readonly issued: ReadonlyArray<{ readonly client: string; readonly key: string }>;
  readonly revoked: ReadonlyArray<{ readonly client: string; readonly key: string }>;
}

export interface ConfiguredKeys {
  readonly clients: ReadonlyArray<{ readonly client: string; readonly key: string }>;
  /** Each accepted as the admin's: several while one replaces another. */
  readonly adminKeys: readonly string[];
}

export class KeyRing {
  /** By the hash's hex: the hash, and who it is. */
  private known = new Map<string, { readonly hash: KeyHash; readonly caller: Caller }>();
  private configured: ConfiguredKeys;

  constructor(
    configured: ConfiguredKeys,
    private readonly source?: KeySource,
  ) {
    this.configured = configured;
    this.known = KeyRing.hashed(configured);
  }

  /**
   * Accept these configured keys from now on, and no other (a key file
   * changed). Says what changed by client name, never by key.
   */
  replace(configured: ConfiguredKeys): KeyChanges {
    const before = new Map(this.configured.clients.map(({ client, key }) => [client, key]));
    const after = new Map(configured.clients.map(({ client, key }) => [client, key]));
    const changes: KeyChanges = {
      added: [...after.keys()].filter((client) => !before.has(client)),
      removed: [...before.keys()].filter((client) => !after.has(client)),
      rekeyed: [...after].filter(([client, key]) => before.has(client) && before.get(client) !== key).map(([c]) => c),
      adminKeys: { before: this.configured.adminKeys.length, after: configured.adminKeys.length },
      adminKeysChanged: this.configured.adminKeys.join(',') !== configured.adminKeys.join(','),
      adminKeysAdded: configured.adminKeys
        .filter((key) => !this.configured.adminKeys.includes(key))
        .map(keyFingerprint),
      adminKeysRemoved: this.configured.adminKeys
        .filter((key) => !configured.adminKeys.includes(key))
        .map(keyFingerprint),
    };
    this.configured = configured;
    this.known = KeyRing.hashed(configured);
    return changes;
  }

  private static hashed(configured: ConfiguredKeys): Map<string, { readonly hash: KeyHash; readonly caller: Caller }> {
    const known = new Map<string, { readonly hash: KeyHash; readonly caller: Caller }>();
    const add = (hash: KeyHash, caller: Caller): void => void known.set(hash.toString('hex'), { hash, caller });
    for (const { client, key } of configured.clients) add(hashKey(key), { client, admin: false });
    for (const key of configured.adminKeys)
      add(hashKey(key), { client: ADMIN, admin: true, keyId: keyFingerprint(key) });
    return known;
  }

  /** Who `key` is, or undefined for a key nobody was issued. */
  callerOf(key: string): Caller | undefined {
    if (!API_KEY.test(key)) return undefined;
    const hash = hashKey(key);
    const entry = this.known.get(hash.toString('hex'));
    if (entry && timingSafeEqual(entry.hash, hash)) return entry.caller;
    const client = this.source?.clientOf(hash);
    if (client === undefined) return undefined;
    const tier = this.source?.tierOf?.(hash);
    return tier === undefined ? { client, admin: false } : { client, admin: false, tier };
  }
}

/** What a reload of the configured keys changed: clients by name, admin keys by count and by fingerprint. */
export interface KeyChanges {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly rekeyed: readonly string[];
  readonly adminKeys: { readonly before: number; readonly after: number };
  readonly adminKeysChanged: boolean;
  readonly adminKeysAdded: readonly string[];
  readonly adminKeysRemoved: readonly string[];
}
