/**
 * The migration files themselves, without a database: numbered 1, 2, 3… with no gap or repeat, each named by its
 * first line, names told apart. A released migration is never renumbered or renamed (the history check at start
 * refuses a database whose record disagrees: test/integration/postgres-migrations.test.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadMigrations } from '../../src/postgres/schema.js';

describe('the migration files', () => {
  it('are numbered from 1 without a gap, each with a name of its own and some SQL', async () => {
    const migrations = await loadMigrations();
    expect(migrations.map(({ id }) => id)).toEqual(migrations.map((_, i) => i + 1));
    expect(new Set(migrations.map(({ name }) => name)).size).toBe(migrations.length);
    for (const { sql } of migrations) expect(sql.split('\n').slice(1).join('\n').trim()).not.toBe('');
  });

  it.each([
    ['1-short.sql', '-- name: x\nSELECT 1;', 'NNNN-what.sql'],
    ['0001-nameless.sql', 'SELECT 1;', '-- name: …'],
  ])('refuse a file named %s', async (file, sql, said) => {
    const folder = await mkdtemp(join(tmpdir(), 'migrations-'));
    try {
      await writeFile(join(folder, file), sql);
      await expect(loadMigrations(pathToFileURL(`${folder}/`))).rejects.toThrow(said);
    } finally {
      await rm(folder, { recursive: true });
    }
  });
});
