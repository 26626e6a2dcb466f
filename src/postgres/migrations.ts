/**
 * The schema, brought up to date at start: an ordered list of migrations,
 * each applied in a transaction of its own that also records it in
 * `schema_migrations` — so a migration is either applied and recorded, or
 * neither. Several instances starting at once take turns on an advisory
 * lock: the first applies what is missing, the others find it recorded.
 *
 * Forward only. A migration, once released, is never edited or renumbered:
 * a recorded migration whose name differs from the code's, or one the code
 * does not know, stops the start with a MigrationError rather than guess.
 *
 * Our own (~80 lines) rather than node-pg-migrate or postgres-shift: the
 * migrations are TypeScript constants compiled into the service, so there
 * are no files to find at run time — node-pg-migrate loads a directory
 * through glob and jiti and brings a CLI (yargs) we would not use;
 * postgres-shift reads a directory too, runs all pending migrations in one
 * transaction, and takes no lock, so two instances starting at once race.
 * DBOS Transact, pg-boss and graphile-worker keep their schemas the same way:
 * ordered constants and a small runner of their own.
 */
import type pg from 'pg';
import { MigrationError } from './failures.js';

export interface Migration {
  /** 1, 2, 3…: the order of application. Never reused, never renumbered. */
  readonly id: number;
  readonly name: string;
  /** One or more statements, sent as one simple query inside the migration's transaction. */
  readonly sql: string;
}

/** The advisory lock key, computed by Postgres from a name nobody else uses. */
const LOCK_KEY = "hashtextextended('order-threads:schema_migrations', 0)";

/**
 * Apply the migrations that `schema_migrations` does not record, in order.
 * Resolves with the ids applied by this call (none if another instance got
 * there first). Waits for another instance that is migrating.
 */
export async function migrate(pool: pg.Pool, migrations: readonly Migration[]): Promise<number[]> {
  checkOrdered(migrations);
  const client = await pool.connect();
  // A checked-out client has no listener of the pool's: a connection that ends
  // under it (Postgres shutting down, a cut) would emit an 'error' nobody
  // hears, and that brings the process down. The query on its way is failed
  // all the same, which is how this is told.
  const ignoreLost = (): void => {};
  client.on('error', ignoreLost);
  try {
    // Session-level: held across the migrations' transactions, and released
    // by the server if this connection dies.
    await client.query(`SELECT pg_advisory_lock(${LOCK_KEY})`);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const { rows } = await client.query<{ id: number; name: string }>(
      'SELECT id, name FROM schema_migrations ORDER BY id',
    );
    checkHistory(rows, migrations);
    const recorded = new Set(rows.map((row) => row.id));
    const applied: number[] = [];
    for (const migration of migrations.filter(({ id }) => !recorded.has(id))) {
      await applyOne(client, migration);
      applied.push(migration.id);
    }
    return applied;
  } finally {
    // Unlocked at once, not when the server notices a closed connection; a
    // connection that cannot even do that is destroyed, which drops the lock too.
    const unlocked = await client.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`).then(
      () => true,
      () => false,
    );
    client.off('error', ignoreLost);
    client.release(!unlocked);
  }
}

/** Invariant: the migration's changes and its row in schema_migrations commit together or not at all. */
async function applyOne(client: pg.PoolClient, { id, name, sql }: Migration): Promise<void> {
  try {
    await client.query('BEGIN');
    await client.query(sql);
    await client.query('INSERT INTO schema_migrations (id, name) VALUES ($1, $2)', [id, name]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw new MigrationError('migration_failed', `migration ${id} (${name}) failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function checkOrdered(migrations: readonly Migration[]): void {
  migrations.forEach(({ id }, i) => {
    if (!Number.isSafeInteger(id) || id < 1 || (i > 0 && id <= migrations[i - 1]!.id)) {
      throw new Error(
        `migrations must have increasing positive integer ids; got ${migrations.map((m) => m.id).join(', ')}`,
      );
    }
  });
}

function checkHistory(recorded: readonly { id: number; name: string }[], migrations: readonly Migration[]): void {
  const known = new Map(migrations.map(({ id, name }) => [id, name]));
  for (const { id, name } of recorded) {
    const expected = known.get(id);
    if (expected === undefined) {
      throw new MigrationError(
        'history_mismatch',
        `the database has migration ${id} (${name}), which this code does not know: is it older than the code that migrated it?`,
      );
    }
    if (expected !== name) {
      throw new MigrationError(
        'history_mismatch',
        `migration ${id} is recorded as "${name}" but this code calls it "${expected}": a released migration was changed`,
      );
    }
  }
}
