/**
 * Reads against orders, on a real Postgres and the real process: a burst of
 * GET /orders/{id} is bounded — it may be told to come back later (503
 * overloaded, Retry-After), never take the connections the orders need, and
 * never make the instance believe Postgres is down while it answers.
 */
import { request } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cpuTimeOf } from '../../load/lib/proc.js';
import { startServerProcess, type ServerProcess } from '../../load/lib/server-process.js';
import { StoreBusy } from '../../src/domain/errors.js';
import { Database, type ReadShare } from '../../src/postgres/database.js';
import { PgEndpointBook } from '../../src/postgres/pg-events.js';
import { MIGRATIONS } from '../../src/postgres/schema.js';
import { orderBody } from '../support/orders.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  startTestPostgres,
  type TestPostgres,
} from '../support/postgres.js';
import { rawRequest } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { parseSamples, sampleKey } from '../support/prometheus.js';
import { parseReply } from '../support/raw-socket.js';
import { startTestService } from '../support/service.js';
import { pause } from '../support/wait.js';

let server: TestPostgres | undefined;
let target: ServerProcess | undefined;
beforeAll(async () => {
  if (POSTGRES_UNAVAILABLE === undefined) server = await startTestPostgres();
});
afterEach(async () => {
  target?.child.kill('SIGKILL');
  await target?.exited;
  target = undefined;
});
afterAll(async () => {
  await server?.stop();
});

/**
 * A TCP proxy in front of Postgres: the nth connection (from 1) reaches it after `delayFor(n)` ms, or never. For a
 * connection that is slow to open on a busy machine, without a busy machine.
 */
async function slowProxy(
  url: string,
  delayFor: (n: number) => number | 'never',
): Promise<{ url: string; readonly connections: number; close(): Promise<void> }> {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  let connections = 0;
  const proxy = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const delay = delayFor(++connections);
    if (delay === 'never') return;
    setTimeout(() => {
      if (socket.destroyed) return;
      const upstream = connect(Number(target.port), target.hostname);
      sockets.add(upstream);
      upstream.on('close', () => {
        sockets.delete(upstream);
        socket.destroy();
      });
      upstream.on('error', () => upstream.destroy());
      socket.on('close', () => upstream.destroy());
      socket.pipe(upstream).pipe(socket);
    }, delay);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const viaProxy = new URL(target);
  viaProxy.port = String((proxy.address() as AddressInfo).port);
  return {
    url: viaProxy.href,
    get connections() {
      return connections;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    },
  };
}

/** The burst (issue 26): 15,000 reads at once against one instance. */
const READS = 15_000;
const ORDERS_EVERY_MS = 50;
/** Reads opened per turn of this process's event loop. */
const BURST_SLICE = 500;
/** Every read is answered within this, however many came at once. */
const ANSWERED_WITHIN_MS = 30_000;

interface Answer {
  readonly status: number | 'failed';
  readonly kind: string | undefined;
  readonly retryAfter: string | null;
  /** From sending to the whole answer. */
  readonly ms: number;
}

/**
 * POST /order on a connection of its own: never one of the burst's
 * keep-alive sockets, which the server may be closing as it is reused.
 */
function postOrderOnce(url: URL, body: unknown, sent: number): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(
      new URL('/order', url),
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            kind: (JSON.parse(text) as { error?: { kind: string } }).error?.kind,
            retryAfter: res.headers['retry-after'] ?? null,
            ms: performance.now() - sent,
          }),
        );
      },
    );
    req.on('error', (error) =>
      resolve({
        status: 'failed',
        kind: String((error as { code?: string }).code ?? error),
        retryAfter: null,
        ms: performance.now() - sent,
      }),
    );
    req.end(JSON.stringify(body));
  });
}

/**
 * GET /orders/{id} on a connection of its own, closed after it: none is reused, so none can be closed by the server's
 * keep-alive timeout as it is reused. Raw bytes on a socket rather than fetch: this process opens 15,000 of them at
 * once beside the server, and fetch's machinery per request cost this process more of the two cores than the server
 * spent answering.
 */
function readOnce(url: URL, orderId: string, sent: number): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    let failure: string | undefined;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => (failure ??= error.code ?? String(error)));
    socket.once('close', () => {
      const ms = performance.now() - sent;
      const answer = parseReply(Buffer.concat(chunks).toString('utf8'));
      // A reset after a whole answer (a connection told to give way is cut after it) is still that answer.
      if (!(answer.status > 0) || answer.body.length < Number(answer.headers['content-length'] ?? 0))
        return resolve({
          status: 'failed',
          // Reset before any byte of an answer: the kernel's doing (read, below); after some, the service's.
          kind: chunks.length === 0 ? (failure ?? 'closed without an answer') : `${failure ?? 'closed'} mid-answer`,
          retryAfter: null,
          ms,
        });
      const kind = (JSON.parse(answer.body) as { error?: { kind: string } }).error?.kind;
      resolve({ status: answer.status, kind, retryAfter: answer.headers['retry-after'] ?? null, ms });
    });
    socket.write(`GET /orders/${orderId} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
  });
}

/**
 * Connections refused by the kernel rather than answered by the service, as a client sees them: 15,000 at once
 * overflow the listen queue (net.core.somaxconn, 4,096 here, caps the service's backlog) while a starved event loop
 * accepts, and a connection whose SYN cookie the kernel then fails to validate is reset before the service ever sees
 * it (nstat's TcpExtSyncookiesFailed matched the resets one for one: 828 and 828, beside three other files). A client
 * retries an idempotent GET reset that way; the answer must still come within ANSWERED_WITHIN_MS of the first try.
 */
const RESET_BEFORE_ANY_ANSWER = 'ECONNRESET';
const TRIES = 3;
let resetsRetried = 0;
let orderResetsRetried = 0;
let probeResetsRetried = 0;

async function read(url: URL, orderId: string): Promise<Answer> {
  const sent = performance.now();
  return sentAgainIfReset(
    () => readOnce(url, orderId, sent),
    () => resetsRetried++,
  );
}

/** `once`, and again while it is reset before any answer: TRIES times at most. `retried` counts each time again. */
async function sentAgainIfReset(once: () => Promise<Answer>, retried: () => void): Promise<Answer> {
  let answer = await once();
  for (let tried = 1; tried < TRIES && answer.status === 'failed' && answer.kind === RESET_BEFORE_ANY_ANSWER; tried++) {
    retried();
    answer = await once();
  }
  return answer;
}

/**
 * An order's connection meets the same kernel (an order's POST is one connection among the burst's 15,000): a client
 * sends an order reset before any answer again, with the same order_id, which makes it safe whether or not the
 * service saw it (seen once, beside two busy loops: 1 of 582 orders).
 */
async function postOrder(url: URL, body: unknown): Promise<Answer> {
  const sent = performance.now();
  return sentAgainIfReset(
    () => postOrderOnce(url, body, sent),
    () => orderResetsRetried++,
  );
}

/**
 * GET, sent again while the kernel resets it before any answer, as read() is: the readiness probe's connection is one
 * among the burst's too (seen once beside two busy loops, where the probe's loop then failed with ECONNRESET).
 */
async function getSentAgainIfReset(url: URL, path: string): Promise<{ status: number; text: string }> {
  for (let tried = 1; ; tried++) {
    try {
      return await get(url, path);
    } catch (error) {
      if ((error as { code?: string }).code !== RESET_BEFORE_ANY_ANSWER || tried >= TRIES) throw error;
      probeResetsRetried++;
    }
  }
}

function tally(answers: readonly Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { status, kind } of answers) {
    const key = kind ? `${status} ${kind}` : String(status);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** GET on a connection of its own, as postOrder: the probe's answers must not queue behind the burst's sockets. */
function get(url: URL, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    request(new URL(path, url), { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    })
      .on('error', reject)
      .end();
  });
}

const percentile = (values: readonly number[], p: number): number =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))] ?? NaN;

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

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`a burst of reads${POSTGRES_SKIPPED}`, () => {
  it('of 15,000 unknown orders at once while orders arrive at 20/s: every order succeeds, /readyz stays 200, Postgres is never declared down, and every read is answered — 404, or 503 overloaded with Retry-After — within 30 s', async () => {
    const url = await freshDatabase(server!);
    // Errors only: a warn line for each of thousands of 503s would fill the pipe to this busy process and stall the
    // server on it.
    // A long lease: 15,000 connections at once can hold a starved event loop for seconds here, and the lease is not
    // what this is about.
    // HEADERS_TIMEOUT_MS as long as the request timeout: this process, opening 15,000 sockets beside three other files,
    // wrote some requests more than the default 10 s after their socket connected, and was rightly answered 408 (the
    // test's race, not the service's: slow headers are hostile-client.test's).
    target = await startServerProcess({
      THREADS: '2',
      LOG_LEVEL: 'error',
      DATABASE_URL: url,
      LEASE_MS: '20000',
      HEADERS_TIMEOUT_MS: '30000',
    });
    const running = target;
    // The reads' connections, opened before the burst, as a running service has them. Opening one beside busy loops
    // can take longer than DB_READ_WAIT_MS, and the read is then answered 503, rightly (a full run on a slow machine):
    // read again until it is answered.
    const warmed = async (id: string): Promise<Answer['status']> => {
      for (let tried = 1; ; tried++) {
        const { status } = await read(running.url, id);
        if (status !== 503 || tried >= 20) return status;
      }
    };
    expect(await Promise.all([0, 1].map((i) => warmed(`warm-${i}`)))).toEqual([404, 404]);

    const orders: Array<Promise<Answer>> = [];
    const readiness: number[] = [];
    let ordering = true;
    const arrivals = (async () => {
      while (ordering) {
        const body = orderBody({ delay_ms: { payment: 20, vendor: 20, courier: 20 } });
        orders.push(postOrder(running.url, body));
        await pause(ORDERS_EVERY_MS);
      }
    })();
    const probing = (async () => {
      while (ordering) {
        readiness.push((await getSentAgainIfReset(running.url, '/readyz')).status);
        await pause(100);
      }
    })();
    // Its failure is the test's, when the loops are awaited below, not an unhandled rejection meanwhile.
    probing.catch(() => {});
    await pause(500);
    const burstStarted = performance.now();
    const serverCpuBefore = cpuTimeOf(running.child.pid!);
    const ownCpuBefore = process.cpuUsage();
    // Opened a slice per turn of this process's event loop, not all 15,000 in one: a socket's request is written once
    // it has connected, which this process hears only between slices — opened in one turn, beside two busy cores, a
    // thousand waited past the server's headers timeout and were rightly answered 408 (the test's race). Still all
    // at once as the server sees them: the whole burst is open within about a second.
    const pending: Array<Promise<Answer>> = [];
    for (let i = 0; i < READS; i++) {
      pending.push(read(running.url, `unknown-${i}`));
      if (i % BURST_SLICE === BURST_SLICE - 1) await new Promise((resolve) => setImmediate(resolve));
    }
    const reads = await Promise.all(pending);
    const burstMs = performance.now() - burstStarted;
    const serverCpuAfter = cpuTimeOf(running.child.pid!);
    const ownCpu = process.cpuUsage(ownCpuBefore);
    // CPU per read through the burst (orders and probes included: a few hundred beside 15,000): the service's, all its
    // threads, and this process's own, which opens the 15,000 connections on the same cores.
    const serverUsPerRead =
      serverCpuBefore && serverCpuAfter
        ? Math.round(((serverCpuAfter.processSec - serverCpuBefore.processSec) * 1e6) / READS)
        : NaN;
    const ownUsPerRead = Math.round((ownCpu.user + ownCpu.system) / READS);
    await pause(1000);
    ordering = false;
    await Promise.all([arrivals, probing]);
    const ordered = await Promise.all(orders);
    const metrics = parseSamples((await get(running.url, '/metrics')).text);

    const readCounts = tally(reads);
    const served = readCounts['404 not_found'] ?? 0;
    const shed = readCounts['503 overloaded'] ?? 0;
    // The figures the issue asks for, printed for the report.
    const perSecond = (count: number): number => Math.round(count / (burstMs / 1000));
    const msAt = (answers: readonly Answer[], p: number): number =>
      Math.round(
        percentile(
          answers.map((answer) => answer.ms),
          p,
        ),
      );
    console.log(
      [
        `postgres-reads: ${READS} reads in ${(burstMs / 1000).toFixed(1)} s: ${perSecond(served)} served/s, ${perSecond(shed)} shed/s`,
        `(${served} served, ${shed} shed, answered within p50/p90/p99/max ${[50, 90, 99, 100].map((p) => msAt(reads, p)).join('/')} ms,`,
        `${resetsRetried} reset by the kernel and sent again;`,
        `CPU per read ${serverUsPerRead} µs the service's, ${ownUsPerRead} µs this process's;`,
        `${metrics.get(sampleKey('store_round_trips_total'))} statements to Postgres in all);`,
        `${ordered.length} orders meanwhile (${orderResetsRetried} reset by the kernel and sent again; readiness probes ${probeResetsRetried}),`,
        `p50 ${msAt(ordered, 50)} ms, p99 ${msAt(ordered, 99)} ms`,
      ].join(' '),
    );
    const seen = JSON.stringify({
      orders: tally(ordered),
      reads: readCounts,
      readiness: tally(readiness.map((status) => ({ status, kind: undefined, retryAfter: null, ms: 0 }))),
      errors: running.stdout.filter((line) => line.includes('"level":50')),
    });
    expect(tally(ordered), seen).toEqual({ 200: ordered.length });
    // Each read is answered: not found, or sent away to come back later — never "the store is unavailable".
    expect(
      Object.keys(readCounts).filter((key) => key !== '404 not_found' && key !== '503 overloaded'),
      seen,
    ).toEqual([]);
    expect(served).toBeGreaterThan(0);
    for (const answered of reads) if (answered.status === 503) expect(answered.retryAfter).toBe('1');
    expect(reads.filter((answered) => answered.ms > ANSWERED_WITHIN_MS).length, seen).toBe(0);
    expect(readiness.length).toBeGreaterThan(0);
    expect(
      readiness.filter((status) => status !== 200),
      seen,
    ).toEqual([]);
    expect(metrics.get(sampleKey('orders_total', { status: '503', kind: 'store_unavailable' })) ?? 0).toBe(0);
    expect(metrics.get(sampleKey('store_up'))).toBe(1);
    expect(metrics.get(sampleKey('store_read_connections'))).toBe(2);
    // The rest of the 503s were shed before reaching the store: connections beyond the unauthenticated budget of one
    // peer (src/http/server.ts) are answered 503 overloaded to make room, not reset.
    expect(metrics.get(sampleKey('store_reads_shed_total'))).toBeLessThanOrEqual(shed);
    expect(running.stdout.filter((line) => line.includes('Postgres unreachable'))).toEqual([]);
    // Each read may take up to 30 s by the contract, and the burst is one await: more than the suite's 30 s per test.
  }, 120_000);

  it('a statement that times out on a healthy Postgres, or a read that waits past DB_READ_WAIT_MS, is busy (StoreBusy: 503 overloaded), not an outage: nothing is marked down', async () => {
    const url = await freshDatabase(server!);
    const db = silentDatabase(
      url,
      { poolSize: 2, statementTimeoutMs: 300 },
      { connections: 1, waitMs: 100, waitingMax: 10 },
    );
    const changes: boolean[] = [];
    db.onChange((up) => changes.push(up));
    try {
      // Slower than the statement timeout: Postgres answers the probe, so this is a busy store.
      await expect(db.query('SELECT pg_sleep(1)')).rejects.toBeInstanceOf(StoreBusy);
      expect(db.isUp).toBe(true);
      // The read pool's one connection held by a slow read: the next waits 100 ms and is turned away.
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
    const proxy = await slowProxy(await freshDatabase(server!), (n) => (n === 1 ? 'never' : 0));
    const db = silentDatabase(proxy.url, { poolSize: 2, statementTimeoutMs: 500 });
    try {
      // Before: DatabaseUnavailable, "Connection terminated due to connection timeout", and the service did not start.
      await db.migrate(MIGRATIONS);
      expect(proxy.connections).toBeGreaterThan(1);
      expect(db.isUp).toBe(true);
    } finally {
      await db.close();
      await proxy.close();
    }
  });

  it('a statement that times out while a new connection takes longer than the statement timeout is busy, not an outage', async () => {
    // The pool's connection goes through; the probe's (the second) takes 800 ms to reach Postgres.
    const proxy = await slowProxy(await freshDatabase(server!), (n) => (n === 1 ? 0 : 800));
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
