/**
 * Vitest global setup of the Postgres-backed files: one throwaway Postgres
 * for the whole run instead of one per file (a start and a stop, about half
 * a second each time), and on it a template database migrated once, which
 * each file's databases are cloned from (`CREATE DATABASE … TEMPLATE`), so
 * no store migrates again. A file reaches it through startTestPostgres
 * (test/support/postgres.ts); a file that stops, freezes or inspects its
 * server starts one of its own (startOwnTestPostgres). SHARED_POSTGRES=off
 * gives every file a server of its own again, as before (to compare).
 */
import { pino } from 'pino';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { Database } from '../../src/postgres/database.js';
import { MIGRATIONS } from '../../src/postgres/schema.js';
import { startThrowawayServer } from '../../scripts/postgres/throwaway.js';
import { POSTGRES_UNAVAILABLE } from './postgres.js';

const TEMPLATE = 'migrated_template';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (POSTGRES_UNAVAILABLE !== undefined || process.env['SHARED_POSTGRES'] === 'off') {
    project.provide('sharedPostgres', undefined);
    return async () => {};
  }
  const server = await startThrowawayServer();
  try {
    const admin = new pg.Client({ connectionString: server.url() });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${TEMPLATE}`);
    } finally {
      await admin.end();
    }
    const url = new URL(server.url());
    url.pathname = `/${TEMPLATE}`;
    const db = new Database({ url: url.href, poolSize: 2, statementTimeoutMs: 30_000, log: pino({ level: 'silent' }) });
    try {
      await db.migrate(MIGRATIONS);
    } finally {
      // A template must have no connection open while it is cloned.
      await db.close();
    }
  } catch (error) {
    await server.stop();
    throw error;
  }
  project.provide('sharedPostgres', { url: server.url(), dataDir: server.dataDir, template: TEMPLATE });
  return () => server.stop();
}
