/**
 * The durable mode's tables and functions: the numbered SQL files in
 * ./migrations/, one per migration, applied in order by ./migrations.ts at
 * every start. A file is `NNNN-what.sql`, its number the migration's id, and
 * its first line `-- name: …` the name recorded in `schema_migrations` (a
 * released migration's name never changes). docs/durable-store.md explains
 * every column and the transaction that moves it.
 *
 * The transitions that must be one atomic decision are plpgsql functions:
 * each is one round trip, and each keeps the invariant written above it.
 * Statements inside a function each see what committed before them (READ
 * COMMITTED), so "insert, or read what is there" needs no retry loop in the
 * client.
 *
 * No foreign keys between the tables, on purpose: `provider_payments` are
 * the simulated provider's books, which the service reaches only through the
 * provider's calls; `owner` and `holder` name instances whose rows are
 * deleted once their orders have been taken over, and a missing instance
 * counts as one whose lease has expired.
 *
 * Order ids are stored as given, except that NUL (which Postgres text cannot
 * hold) and backslash are escaped (storedKey in database.ts); answers are stored as
 * JSON text, which can hold any string.
 */
import { readdir, readFile } from 'node:fs/promises';
import { pathOf, projectFile } from '../paths.js';
import type { Migration } from './migrations.js';

/** Where the migrations are, in the sources and in the image alike (the Dockerfile copies the folder). */
export const MIGRATIONS_FOLDER: URL = projectFile('src/postgres/migrations/');

const FILE_NAME = /^(\d{4})-[a-z0-9-]+\.sql$/;
const NAME_LINE = /^-- name: (.+)\n/;

/** Every migration on disk, in order of id; a file that breaks the naming rules stops the start. */
export async function loadMigrations(folder: URL = MIGRATIONS_FOLDER): Promise<Migration[]> {
  const files = (await readdir(pathOf(folder))).filter((file) => file.endsWith('.sql')).sort();
  return Promise.all(
    files.map(async (file) => {
      const id = FILE_NAME.exec(file)?.[1];
      if (id === undefined) throw new Error(`migration file ${file}: its name must be NNNN-what.sql`);
      const sql = await readFile(pathOf(new URL(file, folder)), 'utf8');
      const name = NAME_LINE.exec(sql)?.[1];
      if (name === undefined) throw new Error(`migration file ${file}: its first line must be "-- name: …"`);
      return { id: Number(id), name, sql };
    }),
  );
}
