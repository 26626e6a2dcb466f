/**
 * Reads against orders, on a real Postgres and the real process: reads are
 * bounded — batched by key, told to come back later (503 overloaded,
 * Retry-After) past their share, never taking the connections the orders
 * need — and a busy store is never taken for one that is down; and each
 * client has its share of them: one client's reads, however slow or many,
 * leave another's served, against the victim's controls (alone, and beside as
 * many cheap reads) measured in the same run. The burst of 15,000 reads at
 * once is postgres-read-burst.test.ts, run alone.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreBusy } from '../../src/domain/errors.js';
import { Database, type KeyedRead, type ReadShare, type Statement } from '../../src/postgres/database.js';
import { PgEndpointBook } from '../../src/postgres/pg-events.js';
import { loadMigrations } from '../../src/postgres/schema.js';
import { startServerProcess } from '../../load/lib/server-process.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  sql,
  startTestPostgres,
  type TestPostgres,
} from '../support/postgres.js';
import { ACME, ADMIN, GLOBEX } from '../support/two-clients.js';
import { pause } from '../support/wait.js';
import { postgresProxy } from '../support/postgres-proxy.js';
import { rawRequest } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { startTestService } from '../support/service.js';

let server: TestPostgres | undefined;
beforeAll(async () => {
  if (POSTGRES_UNAVAILABLE === undefined) server = await startTestPostgres();
});
afterAll(async () => {
  await server?.stop();
});

/** A Database of the tests' own, its log silent; `reads`: its read share, the default if left out. */
function silentDatabase(
  url: string,
  sizes: { poolSize: number; statementTimeoutMs: number },
  reads?: ReadShare,
): Database {
  return new Database({ url, ...sizes, ...(reads && { reads }), log: pino({ level: 'silent' }) });
}

/** A read through `db`'s read pool until one succeeds: its connection opened, which beside busy loops can take longer than a short DB_READ_WAIT_MS (the service then answers busy, rightly). */
async function warmRead(db: Database): Promise<void> {
  for (let tried = 1; ; tried++) {
    try {
      await db.read({ name: 'warm', text: 'SELECT 1 AS one' });
      return;
    } catch (error) {
      if (!(error instanceof StoreBusy) || tried >= 20) throw error;
    }
  }
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`reads, batched and shed${POSTGRES_SKIPPED}`, () => {
  it('a statement that times out on a healthy Postgres, or a read that waits past DB_READ_WAIT_MS, is busy (StoreBusy: 503 overloaded), not an outage: nothing is marked down', async () => {
    const url = await freshDatabase(server!);
    const db = silentDatabase(
      url,
      { poolSize: 2, statementTimeoutMs: 1000 },
      { connections: 1, waitMs: 100, waitingMax: 10 },
    );
    const changes: boolean[] = [];
    db.onChange((up) => changes.push(up));
    try {
      // Slower than the statement timeout: Postgres answers the probe, so this is a busy store.
      await expect(db.query('SELECT pg_sleep(3)')).rejects.toBeInstanceOf(StoreBusy);
      expect(db.isUp).toBe(true);
      // The read pool's one connection held by a slow read: the next waits 100 ms and is turned away. The slow read
      // itself must end within the statement timeout: 750 ms to spare (with 50, it timed out in a CI rehearsal).
      await warmRead(db);
      const shedBefore = db.readFigures.shed;
      const slow = { name: 'slow_read', text: 'SELECT pg_sleep(0.25) AS slept' };
      const holding = db.read(slow);
      await expect(db.read({ name: 'one', text: 'SELECT 1 AS one' })).rejects.toBeInstanceOf(StoreBusy);
      await holding;
      expect(db.readFigures).toEqual({ connections: 1, reads: 0, shed: shedBefore + 1 });
      expect(await db.query<{ one: number }>('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      expect(db.isUp).toBe(true);
      expect(changes).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('reads by key made together go as one statement, each answered its own row; the share counts reads, not statements: past DB_READS_WAITING_MAX a read is turned away at once, past DB_READ_WAIT_MS unsent', async () => {
    const url = await freshDatabase(server!);
    const db = silentDatabase(
      url,
      { poolSize: 2, statementTimeoutMs: 5000 },
      { connections: 1, waitMs: 150, waitingMax: 5 },
    );
    // Each key's length; none for 'missing'; a batch holding 'slow' takes 2 s.
    const lengthOf = db.readByKey<{ key: string; n: number }>(
      {
        name: 'key_lengths',
        text: "SELECT key, length(key) AS n FROM unnest($1::text[]) AS key, LATERAL (SELECT pg_sleep(CASE WHEN 'slow' = ANY($1::text[]) THEN 2 ELSE 0 END)) AS held WHERE key <> 'missing'",
      },
      'key',
    );
    try {
      // The read connection opened first: beside busy loops a new one outlasted the 150 ms wait (its connect timeout
      // too), which the service rightly meets as busy, but which is not what this test counts.
      await warmRead(db);
      const shedBefore = db.readFigures.shed;
      const before = db.roundTrips;
      expect(await Promise.all(['a', 'bb', 'missing', 'ccc'].map((key) => lengthOf(key)))).toEqual([
        { key: 'a', n: 1 },
        { key: 'bb', n: 2 },
        undefined,
        { key: 'ccc', n: 3 },
      ]);
      expect(db.roundTrips - before).toBe(1);

      // The one connection held by a slow batch: six reads may wait for it (one per connection + DB_READS_WAITING_MAX),
      // the seventh is turned away at once, and the six are turned away unsent once they have waited 150 ms.
      const holding = lengthOf('slow');
      await new Promise((resolve) => setImmediate(resolve));
      const waiting = Array.from({ length: 6 }, (_, i) => lengthOf(`w${i}`));
      await expect(lengthOf('one too many')).rejects.toBeInstanceOf(StoreBusy);
      for (const read of await Promise.allSettled(waiting))
        expect(read.status === 'rejected' && read.reason instanceof StoreBusy).toBe(true);
      expect(await holding).toEqual({ key: 'slow', n: 4 });
      expect(db.roundTrips - before).toBe(2);
      expect(db.readFigures).toEqual({ connections: 1, reads: 0, shed: shedBefore + 7 });
      expect(db.isUp).toBe(true);
    } finally {
      await db.close();
    }
  });

  it("a client's list of its webhook endpoints is a read too: on the reads' share, turned away busy while the orders' connections stay free", async () => {
    // No read may wait: the one beyond the connection's is turned away at once, however long a read could wait (a new
    // connection beside busy loops outlasted 100 ms).
    const db = silentDatabase(
      await freshDatabase(server!),
      { poolSize: 2, statementTimeoutMs: 5000 },
      { connections: 1, waitMs: 5000, waitingMax: 0 },
    );
    const book = new PgEndpointBook(db);
    try {
      await book.add('acme', 'https://hooks.example/acme', 5);
      expect((await book.list('acme')).map((endpoint) => endpoint.url)).toEqual(['https://hooks.example/acme']);
      const holding = db.read({ name: 'slow_read', text: 'SELECT pg_sleep(1) AS slept' });
      // Before: the list went to the orders' pool, and a flood of lists could take the connections orders need.
      await expect(book.list('acme')).rejects.toBeInstanceOf(StoreBusy);
      expect(await db.query<{ one: number }>('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      await holding;
      expect(db.readFigures.shed).toBe(1);
      expect(db.isUp).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('reads past their share through HTTP (the webhook list, the event feed) are answered 503 overloaded with Retry-After, not 500', async () => {
    // One read connection and no wait: of reads sent at once, all but one or two are turned away.
    const svc = await startTestService({
      config: {
        durable: {
          databaseUrl: await freshDatabase(server!),
          leaseMs: 3000,
          poolSize: 4,
          reads: { connections: 1, waitMs: 1, waitingMax: 0 },
        },
      },
    });
    try {
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          rawRequest(svc.url, { method: 'GET', path: i % 2 === 0 ? '/webhooks' : '/events' }),
        ),
      );
      const seen = answers.map(({ status, text }) => `${status} ${text.slice(0, 80)}`);
      // Before: the read's StoreBusy reached the error handler as a bug, 500 internal and an error line.
      expect(
        answers.filter(({ status }) => status !== 200 && status !== 503),
        seen.join('\n'),
      ).toEqual([]);
      const turnedAway = answers.filter(({ status }) => status === 503);
      expect(turnedAway.length, seen.join('\n')).toBeGreaterThan(0);
      for (const answer of turnedAway) {
        expect((answer.json() as { error: { kind: string } }).error.kind).toBe('overloaded');
        expect(answer.headers['retry-after']).toBe('1');
      }
      await expectAtRest(svc, 2);
    } finally {
      await svc.shutdown();
    }
  });

  it('a first connection not opened in time at start, on a healthy Postgres, is asked for again: the schema is brought up to date', async () => {
    // The first connection is accepted and never answered (a server slow to fork its first backend, on a busy
    // machine); the others go through.
    const proxy = await postgresProxy(await freshDatabase(server!), (n) => (n === 1 ? 'never' : 0));
    const db = silentDatabase(proxy.url, { poolSize: 2, statementTimeoutMs: 500 });
    try {
      // Before: DatabaseUnavailable, "Connection terminated due to connection timeout", and the service did not start.
      await db.migrate(await loadMigrations());
      expect(proxy.connections).toBeGreaterThan(1);
      expect(db.isUp).toBe(true);
    } finally {
      await db.close();
      await proxy.close();
    }
  });

  it('a statement that times out while a new connection takes longer than the statement timeout is busy, not an outage', async () => {
    // The pool's connection goes through; the probe's (the second) takes 800 ms to reach Postgres.
    const proxy = await postgresProxy(await freshDatabase(server!), (n) => (n === 1 ? 0 : 800));
    const db = silentDatabase(proxy.url, { poolSize: 1, statementTimeoutMs: 300 });
    const changes: boolean[] = [];
    db.onChange((up) => changes.push(up));
    try {
      // Before: the probe was given the statement's 300 ms, timed out, and Postgres was marked down for every order.
      await expect(db.query('SELECT pg_sleep(1)')).rejects.toBeInstanceOf(StoreBusy);
      expect(db.isUp).toBe(true);
      expect(changes).toEqual([]);
    } finally {
      await db.close();
      await proxy.close();
    }
  });
});

/** A page that passes over many rows: 30 ms of a read connection. */
const SLOW: Statement = { name: 'slow_page', text: 'SELECT pg_sleep(0.03) AS slept' };
const CHEAP: Statement = { name: 'cheap_page', text: 'SELECT 1 AS one' };
const BY_KEY: Statement = { name: 'by_key', text: 'SELECT key FROM unnest($1::text[]) AS key' };

/** What the victim's reads got: how many, how many served, and the median time to an answer. */
interface VictimFigures {
  readonly reads: number;
  readonly served: number;
  readonly p50Ms: number;
}

/** `read(i)` 20 times a second for `ms`, each on schedule (an open loop), answered true when served. */
async function victimReads(read: (i: number) => Promise<boolean>, ms: number): Promise<VictimFigures> {
  const answers: Array<Promise<{ ok: boolean; ms: number }>> = [];
  const started = performance.now();
  for (let i = 0; performance.now() < started + ms; i++) {
    const sentAt = performance.now();
    answers.push(read(i).then((ok) => ({ ok, ms: performance.now() - sentAt })));
    await pause(Math.max(0, started + (i + 1) * 50 - performance.now()));
  }
  const done = await Promise.all(answers);
  const times = done.map((answer) => answer.ms).sort((a, b) => a - b);
  return {
    reads: done.length,
    served: done.filter((answer) => answer.ok).length,
    p50Ms: Math.round(times[Math.floor(times.length / 2)] ?? NaN),
  };
}

/** `loops` loops of `attack` beside the victim's reads of `victimMs`, half a second in: the victim's, and the attacker's tally. */
async function besideLoops(
  loops: number,
  attack: () => Promise<string>,
  victim: () => Promise<VictimFigures>,
): Promise<{ victim: VictimFigures; attacker: Record<string, number> }> {
  let on = true;
  const attacker: Record<string, number> = {};
  const running = Array.from({ length: loops }, async () => {
    while (on) {
      const said = await attack();
      attacker[said] = (attacker[said] ?? 0) + 1;
      // Turned away at once: the next in a moment, as a client told 503 retries.
      if (said === 'busy') await pause(5);
    }
  });
  await pause(500);
  const figures = await victim();
  on = false;
  await Promise.all(running);
  return { victim: figures, attacker };
}

/** A keyed read as the victim's: served when its own row came back, not when turned away busy. */
const servedBy =
  (read: KeyedRead<{ key: string }>) =>
  (i: number): Promise<boolean> =>
    read(`victim-${i}`, 'globex').then(
      (row) => row?.key === `victim-${i}`,
      (error: unknown) => {
        if (error instanceof StoreBusy) return false;
        throw error;
      },
    );

/** GET `path` of `url` as `key`'s client: its status. */
async function get(url: URL, path: string, key: string): Promise<number> {
  const response = await fetch(new URL(path, url), { headers: { authorization: `Bearer ${key}` } });
  await response.arrayBuffer();
  return response.status;
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`each client's share of the reads${POSTGRES_SKIPPED}`, () => {
  it(
    "one client's 64 loops of slow reads leave another client's reads by key ≥ 90% served, as alone and beside cheap reads",
    { timeout: 60_000 },
    async () => {
      // The service's own read share: DB_READ_CONNECTIONS 2, DB_READ_WAIT_MS 500, DB_READS_WAITING_MAX 100.
      const db = silentDatabase(await freshDatabase(server!), { poolSize: 2, statementTimeoutMs: 5000 });
      try {
        await db.openConnections({ lease: false });
        const victim = () => victimReads(servedBy(db.readByKey<{ key: string }>(BY_KEY, 'key')), 2000);
        const loopsOf = (statement: Statement) => () =>
          db.read(statement, [], 'mallory').then(
            () => 'served',
            (error: unknown) => {
              if (error instanceof StoreBusy) return 'busy';
              throw error;
            },
          );
        const alone = await victim();
        const cheap = await besideLoops(64, loopsOf(CHEAP), victim);
        const slow = await besideLoops(64, loopsOf(SLOW), victim);
        console.log(`reads by key: ${JSON.stringify({ alone, cheap, slow })}`);
        expect(alone.served / alone.reads).toBeGreaterThanOrEqual(0.9);
        expect(cheap.victim.served / cheap.victim.reads).toBeGreaterThanOrEqual(0.9);
        // Before: the attacker's reads stood in the read pool's one first-come line, 30 ms each on two connections,
        // and the victim's waited behind them past DB_READ_WAIT_MS: 11 of 41 served, p50 746 ms.
        expect(slow.victim.served / slow.victim.reads).toBeGreaterThanOrEqual(0.9);
        expect(db.isUp).toBe(true);
      } finally {
        await db.close();
      }
    },
  );

  it(
    "over HTTP, 32 connections of a list its own history defeats leave another client's reads of its order ≥ 90% served, as alone and beside cheap reads",
    { timeout: 90_000 },
    async () => {
      // acme's own history: 60,000 failed orders, which ?state=succeeded passed over, 21 ms a page.
      const databaseUrl = await freshDatabase(server!);
      const service = await startServerProcess({
        THREADS: '2',
        LOG_LEVEL: 'warn',
        DATABASE_URL: databaseUrl,
        API_KEYS: `acme:${ACME},globex:${GLOBEX}`,
        ADMIN_KEY: ADMIN,
      });
      try {
        await sql(
          databaseUrl,
          `INSERT INTO orders (order_id, fingerprint, run, runs, state, kind, received_at, finished_at, replay_until)
           SELECT 'acme:failed-' || i, 'fp', nextval('order_runs'), 1, 'done', 'payment_declined',
                  now() - (60000 - i) * interval '10 milliseconds', now(), now() + interval '1 day'
             FROM generate_series(1, 60000) AS i`,
        );
        await sql(databaseUrl, 'ANALYZE orders');
        const placed = await fetch(new URL('/order', service.url), {
          method: 'POST',
          headers: { authorization: `Bearer ${GLOBEX}`, 'content-type': 'application/json' },
          body: JSON.stringify({ order_id: 'polled', amount: 100, delay_ms: { payment: 1, vendor: 1, courier: 1 } }),
        });
        expect(placed.status).toBe(200);
        // globex polls its order by id, as a client of respond-async learns outcomes.
        const victim = () => victimReads(async () => (await get(service.url, '/orders/polled', GLOBEX)) === 200, 5000);
        const listing = (path: string) => async () => String(await get(service.url, path, ACME));
        const alone = await victim();
        const cheap = await besideLoops(32, listing('/orders?state=failed&limit=1'), victim);
        const defeated = await besideLoops(32, listing('/orders?state=succeeded'), victim);
        console.log(`GET /orders/{id}: ${JSON.stringify({ alone, cheap, defeated })}`);
        expect(alone.served / alone.reads).toBeGreaterThanOrEqual(0.9);
        expect(cheap.victim.served / cheap.victim.reads).toBeGreaterThanOrEqual(0.9);
        // Before: every client's reads stood in one first-come line for the reads' two connections, behind the
        // attacker's pages of 21 ms: the victim's waited 671-836 ms at the median here (4 ms alone), and those past
        // DB_READ_WAIT_MS were refused 503 (29 of 101; the issue: 48-60 of 98).
        expect(defeated.victim.served / defeated.victim.reads).toBeGreaterThanOrEqual(0.9);
        expect(defeated.victim.p50Ms).toBeLessThan(Math.max(100, 10 * alone.p50Ms));
      } finally {
        service.child.kill('SIGTERM');
        await service.exited;
      }
    },
  );
});
