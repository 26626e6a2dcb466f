/**
 * The durable mode's connections, on a real Postgres: an instance opens its
 * pools' connections as it starts, not under the load that would need them,
 * and one of them ending while idle is not Postgres gone; a statement that
 * reached Postgres and was never answered is told from one that never left
 * (the begin's outcome_unknown rests on it), and a connection checked out for
 * a statement is heard for as long as it is out — an error that comes with no
 * statement under way (a backend ended right after its answer, or right
 * after it opened) must not bring the process down.
 */
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Database } from '../../src/postgres/database.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  sql,
  startTestPostgres,
  type TestPostgres,
} from '../support/postgres.js';
import { captureLog } from '../support/log-capture.js';
import { startTestService } from '../support/service.js';
import { postgresProxy } from '../support/postgres-proxy.js';
import { eventually, pause } from '../support/wait.js';

const READY_FOR_QUERY = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);

/** The service's connections open to the database at `url` (its pools', not a probe's or a listener's). */
const openOn = async (url: string): Promise<number> =>
  (
    await sql<{ open: number }>(
      url,
      "SELECT count(*)::int AS open FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'order-threads'",
    )
  )[0]!.open;

let server: TestPostgres | undefined;
beforeAll(async () => {
  if (POSTGRES_UNAVAILABLE === undefined) server = await startTestPostgres();
});
afterAll(async () => {
  await server?.stop();
});

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`connections to Postgres${POSTGRES_SKIPPED}`, () => {
  it('are open once an instance has started, before any order: none is opened under the load that needs it', async () => {
    const databaseUrl = await freshDatabase(server!);
    const service = await startTestService({ config: { durable: { databaseUrl, leaseMs: 3000, poolSize: 4 } } });
    try {
      // The orders' 4, the reads' 2, the lease's 1; the delivery thread's 4 for its lanes, opened as that thread starts.
      const open = await eventually(
        () => openOn(databaseUrl),
        (count) => count >= 4 + 2 + 1 + 4,
      );
      expect(open).toBe(4 + 2 + 1 + 4);
    } finally {
      await service.shutdown();
    }
  });

  it('that do not open within their wait at start are asked for again: a busy machine opens them slowly', async () => {
    const url = await freshDatabase(server!);
    // The first connection asked for never opens; the others at once.
    const proxy = await postgresProxy(url, (n) => (n === 1 ? 'never' : 0));
    const db = new Database({ url: proxy.url, poolSize: 1, statementTimeoutMs: 1000, log: pino({ level: 'silent' }) });
    try {
      await db.openConnections();
      // The orders' 1, the reads' 2, the lease's 1: the one that timed out asked for again.
      expect(await openOn(url)).toBe(1 + 2 + 1);
    } finally {
      await db.close();
      await proxy.close();
    }
  });

  it('one ended while idle, Postgres answering, does not mark Postgres down: kept open, a connection is idle for long', async () => {
    const url = await freshDatabase(server!);
    const { logger, lines } = captureLog();
    const db = new Database({ url, poolSize: 2, statementTimeoutMs: 5000, log: logger });
    const changes: boolean[] = [];
    db.onChange((up) => changes.push(up));
    try {
      await db.openConnections();
      // As an idle-session timeout, or a proxy dropping an idle connection, would end it.
      await sql(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'order-threads' AND pid <> pg_backend_pid() LIMIT 1",
      );
      await eventually(
        async () => lines.filter((line) => String(line['msg']).startsWith('Postgres answers a probe')).length,
        (answered) => answered > 0,
      );
      expect(changes).toEqual([]);
      expect(db.isUp).toBe(true);
      expect(await db.query<{ one: number }>('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('a backend that ends in the same packet as its answer fails no statement and brings nothing down', async () => {
    const proxy = await postgresProxy(await freshDatabase(server!));
    const db = new Database({ url: proxy.url, poolSize: 1, statementTimeoutMs: 5000, log: pino({ level: 'silent' }) });
    try {
      // The session ends itself (FATAL 57P05) once idle for 100 ms: after its next answer.
      await db.query("SET idle_session_timeout = '100ms'");
      proxy.holding = true;
      const answered = db.query<{ one: number }>('SELECT 1 AS one');
      // The answer, then the FATAL 100 ms after it, kept and passed on together.
      await pause(400);
      proxy.release();
      expect(await answered).toEqual([{ one: 1 }]);
      // Before: the FATAL came with no statement under way, on a connection still checked out and heard by no one:
      // an 'error' event unheard, and the process went down. Now that connection is let go, and the next opens anew.
      expect(await db.query<{ two: number }>('SELECT 2 AS two')).toEqual([{ two: 2 }]);
    } finally {
      await db.close();
      await proxy.close();
    }
  });

  it('a connection that ends in the same packet as its opening is not given a statement and brings nothing down', async () => {
    const url = await freshDatabase(server!);
    // Every session of this database ends itself (FATAL 57P05) once idle for 100 ms: a new one, just after it opened.
    const owner = new pg.Client({ connectionString: url });
    await owner.connect();
    await owner.query(`ALTER DATABASE "${new URL(url).pathname.slice(1)}" SET idle_session_timeout = '100ms'`);
    await owner.end();
    const proxy = await postgresProxy(url);
    const db = new Database({ url: proxy.url, poolSize: 1, statementTimeoutMs: 5000, log: pino({ level: 'silent' }) });
    try {
      // Held from the end of the connection's opening (ReadyForQuery, idle: 'Z', length 5, 'I'), past authentication.
      proxy.holdFrom = (chunk) => chunk.includes(READY_FOR_QUERY);
      const answered = db.query<{ one: number }>('SELECT 1 AS one');
      // That opening, then the FATAL 100 ms after it, passed on together.
      await pause(400);
      proxy.release();
      // Before: the pool handed the connection out and stopped hearing it at once, so the FATAL that followed in the
      // same chunk was an 'error' event heard by no one, and the process went down. Now the statement, never sent on
      // it, goes out on a connection opened anew.
      expect(await answered).toEqual([{ one: 1 }]);
      expect(proxy.connections).toBe(2);
    } finally {
      await db.close();
      await proxy.close();
    }
  });
});
