/**
 * Vitest global setup of the Postgres-backed files: one throwaway Postgres
 * for the whole run instead of one per file (a start and a stop, about half
 * a second each time), and on it a template database migrated once, which
 * each file's databases are cloned from (`CREATE DATABASE … TEMPLATE`), so
 * no store migrates again. A file reaches it through startTestPostgres
 * (test/support/postgres.ts); a file that stops, freezes or inspects its
 * server starts one of its own (startOwnTestPostgres). SHARED_POSTGRES=off
 * gives every file a server of its own again, as before (to compare). One
 * server for the run, however many projects list this setup.
 */
import { pino } from 'pino';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { Database } from '../../src/postgres/database.js';
import { loadMigrations } from '../../src/postgres/schema.js';
import { startThrowawayServer } from '../../scripts/postgres/throwaway.js';
import { POSTGRES_UNAVAILABLE, type SharedPostgres } from './postgres.js';

const TEMPLATE = 'migrated_template';

/**
 * The run's one server, whichever project's setup asks first: each project that lists this setup (vitest.config.ts)
 * runs it, in this one process, and they share the server; the last teardown stops it.
 */
interface Shared {
  readonly ready: Promise<SharedPostgres & { stop(): Promise<void> }>;
  users: number;
}
const RUN = Symbol.for('order-threads.shared-postgres');
const run = globalThis as typeof globalThis & { [RUN]?: Shared };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (POSTGRES_UNAVAILABLE !== undefined || process.env['SHARED_POSTGRES'] === 'off') {
    project.provide('sharedPostgres', undefined);
    return async () => {};
  }
  const shared = (run[RUN] ??= { ready: startShared(), users: 0 });
  shared.users++;
  const teardown = async (): Promise<void> => {
    if (--shared.users > 0) return;
    delete run[RUN];
    await (await shared.ready).stop();
  };
  try {
    const { url, dataDir, template } = await shared.ready;
    project.provide('sharedPostgres', { url, dataDir, template });
  } catch (error) {
    await teardown().catch(() => {});
    throw error;
  }
  return teardown;
}

async function startShared(): Promise<SharedPostgres & { stop(): Promise<void> }> {
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
      await db.migrate(await loadMigrations());
    } finally {
      // A template must have no connection open while it is cloned.
      await db.close();
    }
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { url: server.url(), dataDir: server.dataDir, template: TEMPLATE, stop: () => server.stop() };
}
