/**
 * Durable stores for tests of the Postgres implementations: a throwaway
 * Postgres for the file, and stores opened on fresh databases of it — each
 * test's closed after it. Call at the top level of a test file.
 */
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { leaseMarginMs } from '../../src/config.js';
import { PostgresStore } from '../../src/postgres/postgres-store.js';
import { freshDatabase, POSTGRES_UNAVAILABLE, startTestPostgres, type TestPostgres } from './postgres.js';
import { TEST_CONFIG } from './service.js';

export interface StoreOptions {
  readonly replayMs?: number;
  readonly leaseMs?: number;
  /** A database of the server to open them on; a fresh one by default. */
  readonly url?: string;
  /** Where they log; silent by default. */
  readonly log?: Logger;
}

export interface DurableStores {
  /** `n` stores on one database: `n` instances. */
  open(n: number, options?: StoreOptions): Promise<PostgresStore[]>;
  /** A fresh database on the file's server. */
  database(): Promise<string>;
}

export function useDurableStores(): DurableStores {
  let server: TestPostgres | undefined;
  const opened: PostgresStore[] = [];
  beforeAll(async () => {
    if (POSTGRES_UNAVAILABLE === undefined) server = await startTestPostgres();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });
  afterAll(async () => {
    await server?.stop();
  });
  const silent = pino({ level: 'silent' });
  const database = (): Promise<string> => freshDatabase(server!);
  return {
    database,
    async open(n, { replayMs = 60_000, leaseMs = 5000, url, log = silent } = {}) {
      const databaseUrl = url ?? (await database());
      // As the service would give its lease up with the tests' CANCEL_GRACE_MS.
      const margin = leaseMarginMs({ leaseMs, cancelGraceMs: TEST_CONFIG.cancelGraceMs });
      const stores = await Promise.all(
        Array.from({ length: n }, () =>
          PostgresStore.open({ databaseUrl, leaseMs, leaseMarginMs: margin, poolSize: 4, replayMs, couriers: 1 }, log),
        ),
      );
      opened.push(...stores);
      return stores;
    },
  };
}

/**
 * Make `store`'s lease lapse in Postgres now, as if its process had died (its timers keep running but can no longer
 * renew it).
 */
export async function stopRenewing(url: string, store: PostgresStore): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("UPDATE instances SET lease_until = now() - interval '1 second' WHERE instance_id = $1", [
      store.sharedHealth().instance_id,
    ]);
  } finally {
    await client.end();
  }
}
