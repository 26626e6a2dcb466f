/**
 * API keys kept in Postgres (`npm run keys`), as the instances see them: a
 * KeySource (src/auth/key-ring.ts) answering from a copy of the live keys'
 * hashes, read again at once when a key is issued or revoked (NOTIFY
 * api_keys) and every REFRESH_MS whatever happens — so a key revoked on one
 * instance is refused by every other within a second, even if a
 * notification is lost. Keys issued and revoked since the last read are
 * told by client and fingerprint (the instance's audit line). Lookups never wait on Postgres: the order path
 * stays a Map lookup. While Postgres is unreachable the last copy stands.
 *
 * A key may carry a priority tier (migration 9), set for every
 * live key of a client at once (`npm run keys -- tier`); a key without one
 * leaves its client's tier to CLIENT_TIERS.
 *
 * Issuing and revoking are plain functions over the same table, for the
 * command line (scripts/keys.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { fingerprintOfHash, hashKey, type IssuedKeysChange, type KeyHash, type KeySource } from '../auth/key-ring.js';
import type { Tier } from '../domain/tier.js';
import type { Database } from './database.js';
import type { Notifications } from './notifications.js';

/** How often the live keys are read again, whatever the notifications say. */
const REFRESH_MS = 500;

const LIVE: { name: string; text: string } = {
  name: 'api_keys_live',
  text: 'SELECT key_hash, client, tier FROM api_keys WHERE revoked_at IS NULL',
};

export class PgKeySource implements KeySource {
  /** Hex of each live key's hash → its client. */
  private live = new Map<string, string>();
  /** Hex of each live key's hash → its tier, for the keys that have one. */
  private tiers = new Map<string, Tier>();
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private readAgain = false;
  /** Whether the keys have been read once: what the first read finds is no change. */
  private read = false;
  private readonly listeners: Array<(change: IssuedKeysChange) => void> = [];

  constructor(
    private readonly db: Database,
    notifications: Notifications,
    private readonly log: Logger,
  ) {
    notifications.on('api_keys', () => void this.refresh());
  }

  clientOf(hash: KeyHash): string | undefined {
    return this.live.get(hash.toString('hex'));
  }

  tierOf(hash: KeyHash): Tier | undefined {
    return this.tiers.get(hash.toString('hex'));
  }

  /** Keys issued in Postgres right now. */
  get size(): number {
    return this.live.size;
  }

  onChange(listener: (change: IssuedKeysChange) => void): void {
    this.listeners.push(listener);
  }

  /** Read the live keys, then keep reading them. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * One read at a time. A read asked for while one is on its way is made after it: that one may have been answered
   * before the change it is asked for (a NOTIFY that came during it), and it would read the keys as they were.
   */
  private refresh(): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = this.db
      .query<{ key_hash: Buffer; client: string; tier: Tier | null }>(LIVE)
      .then((rows) => {
        const before = this.live;
        this.live = new Map(rows.map((row) => [row.key_hash.toString('hex'), row.client]));
        this.tiers = new Map(rows.flatMap((row) => (row.tier ? [[row.key_hash.toString('hex'), row.tier]] : [])));
        if (this.read) this.tell(before);
        this.read = true;
      })
      .catch((error: unknown) =>
        this.log.debug({ err: error }, 'API keys in Postgres could not be read; the last ones read stand'),
      )
      .finally(() => {
        this.reading = undefined;
        if (!this.readAgain) return;
        this.readAgain = false;
        void this.refresh();
      });
    return this.reading;
  }

  private tell(before: ReadonlyMap<string, string>): void {
    const named = ([hex, client]: [string, string]) => ({ client, key: fingerprintOfHash(Buffer.from(hex, 'hex')) });
    const issued = [...this.live].filter(([hex]) => !before.has(hex)).map(named);
    const revoked = [...before].filter(([hex]) => !this.live.has(hex)).map(named);
    if (issued.length + revoked.length === 0) return;
    for (const listener of this.listeners) listener({ issued, revoked });
  }
}

/** A new key for `client`, stored as its hash; the key itself is returned once and kept nowhere. */
export async function issueKey(db: Database, client: string): Promise<string> {
  // 32 random bytes: 43 characters of A-Z a-z 0-9 _ -, which API_KEY accepts.
  const key = randomBytes(32).toString('base64url');
  await db.query(
    "WITH issued AS (INSERT INTO api_keys (key_hash, client) VALUES ($1, $2) RETURNING 1) SELECT pg_notify('api_keys', '') FROM issued",
    [hashKey(key), client],
  );
  return key;
}

/** Revoke every live key of `client`; how many. */
export async function revokeKeys(db: Database, client: string): Promise<number> {
  const rows = await db.query<{ revoked: number }>(
    "WITH revoked AS (UPDATE api_keys SET revoked_at = now() WHERE client = $1 AND revoked_at IS NULL RETURNING 1) SELECT count(*)::int AS revoked, pg_notify('api_keys', '') FROM revoked",
    [client],
  );
  return rows[0]?.revoked ?? 0;
}

/**
 * Set the priority tier of every live key of `client` (null: none, CLIENT_TIERS' then); how many keys. Every instance
 * reads it within a second.
 */
export async function setTier(db: Database, client: string, tier: Tier | null): Promise<number> {
  const rows = await db.query<{ changed: number }>(
    "WITH changed AS (UPDATE api_keys SET tier = $2 WHERE client = $1 AND revoked_at IS NULL RETURNING 1) SELECT count(*)::int AS changed, pg_notify('api_keys', '') FROM changed",
    [client, tier],
  );
  return rows[0]?.changed ?? 0;
}

export interface IssuedKeys {
  readonly client: string;
  /** The tiers its live keys carry (none: CLIENT_TIERS'). */
  readonly tiers: readonly Tier[];
  readonly live: number;
  readonly revoked: number;
  readonly lastIssued: Date;
}

/** Every client with keys in Postgres: how many live and revoked — never a key. */
export async function listKeys(db: Database): Promise<IssuedKeys[]> {
  const rows = await db.query<{ client: string; live: number; revoked: number; last_issued: Date; tiers: Tier[] }>(
    `SELECT client, count(*) FILTER (WHERE revoked_at IS NULL)::int AS live, count(*) FILTER (WHERE revoked_at IS NOT NULL)::int AS revoked,
            max(created_at) AS last_issued,
            coalesce(array_agg(DISTINCT tier) FILTER (WHERE revoked_at IS NULL AND tier IS NOT NULL), '{}') AS tiers
       FROM api_keys GROUP BY client ORDER BY client`,
  );
  return rows.map((row) => ({
    client: row.client,
    live: row.live,
    revoked: row.revoked,
    lastIssued: row.last_issued,
    tiers: row.tiers,
  }));
}
