/**
 * A burst of reads on a real Postgres and the real process, with the service's
 * own lease and deadlines: 15,000 GET /orders/{id} at once, and 50 orders sent
 * together in the thick of it. Every order succeeds, the instance keeps its
 * lease (the renewal's timer runs on the main thread the reads would hold),
 * it never believes Postgres is down, and every read is answered — 404, or
 * 503 overloaded with Retry-After — within 30 s. Reads wait or are refused;
 * orders and the lease come first.
 *
 * It runs beside the rest of the suite, and nothing it sends is sent twice: a
 * read, an order or a probe reset is a failure. The other tests of reads on
 * Postgres are postgres-reads.test.ts.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cpuTimeOf } from '../../load/lib/proc.js';
import { startServerProcess, type ServerProcess } from '../../load/lib/server-process.js';
import { orderBody } from '../support/orders.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  startTestPostgres,
  type TestPostgres,
} from '../support/postgres.js';
import { parseSamples, sampleKey } from '../support/prometheus.js';
import { parseReply } from '../support/raw-socket.js';
import { eventually, pause } from '../support/wait.js';

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

/** 15,000 reads at once against one instance. */
const READS = 15_000;
/** Orders sent among the reads of the burst. */
const ORDERS = 50;
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
    // Timed from when the request goes out, as the connection opens: this process, opening 15,000 sockets in one turn
    // beside busy cores, takes seconds to come to the last of them, its own delay and not the service's.
    socket.once('connect', () => (sent = performance.now()));
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

async function read(url: URL, orderId: string): Promise<Answer> {
  return readOnce(url, orderId, performance.now());
}

async function postOrder(url: URL, body: unknown): Promise<Answer> {
  return postOrderOnce(url, body, performance.now());
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

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`a burst of reads${POSTGRES_SKIPPED}`, () => {
  it('of 15,000 unknown orders at once with 50 orders sent together in it, on the default lease: every order succeeds, the lease is never given up, /readyz stays 200, Postgres is never declared down, and every read is answered — 404, or 503 overloaded with Retry-After — within 30 s', async () => {
    const url = await freshDatabase(server!);
    // Errors only: a warn line for each of thousands of 503s would fill the pipe to this busy process and stall the
    // server on it. The lease and the orders' deadline are the service's own: a flood of reads must not take either.
    // HEADERS_TIMEOUT_MS as long as the request timeout: this process, opening 15,000 sockets beside three other files,
    // wrote some requests more than the default 10 s after their socket connected, and was rightly answered 408 (the
    // test's race, not the service's: slow headers are hostile-client.test's).
    target = await startServerProcess({
      THREADS: '2',
      LOG_LEVEL: 'error',
      DATABASE_URL: url,
      HEADERS_TIMEOUT_MS: '30000',
    });
    const running = target;
    // The reads' connections, opened before the burst, as a running service has them: two reads at once open both
    // (answered 404, or 503 if opening one beside busy loops took longer than DB_READ_WAIT_MS), then the service says
    // when they are open.
    await Promise.all([0, 1].map((i) => read(running.url, `warm-${i}`)));
    await eventually(
      async () => parseSamples((await get(running.url, '/metrics')).text).get(sampleKey('store_read_connections')),
      (open) => open === 2,
      { within: 20_000, every: 50 },
    );

    const readiness: number[] = [];
    let probingOn = true;
    const probing = (async () => {
      while (probingOn) {
        readiness.push((await get(running.url, '/readyz')).status);
        await pause(100);
      }
    })();
    // Its failure is the test's, when the loop is awaited below, not an unhandled rejection meanwhile.
    probing.catch(() => {});
    await pause(500);
    const burstStarted = performance.now();
    const serverCpuBefore = cpuTimeOf(running.child.pid!);
    const ownCpuBefore = process.cpuUsage();
    // All opened in one turn of this process's event loop, the orders among them, one every READS / ORDERS reads: as
    // a flood from many clients comes, the server finds thousands of requests ready to read together, and each order
    // arrives in the thick of it and must run within its deadline while the reads keep coming. (Opened a slice per
    // turn, the server kept up with this process, itself slowed by busy cores, and never met the flood.)
    const pending: Array<Promise<Answer>> = [];
    const ordering: Array<Promise<Answer>> = [];
    for (let i = 0; i < READS; i++) {
      pending.push(read(running.url, `unknown-${i}`));
      if (i % (READS / ORDERS) === 0)
        ordering.push(postOrder(running.url, orderBody({ delay_ms: { payment: 20, vendor: 20, courier: 20 } })));
    }
    const reads = await Promise.all(pending);
    const burstMs = performance.now() - burstStarted;
    const serverCpuAfter = cpuTimeOf(running.child.pid!);
    const ownCpu = process.cpuUsage(ownCpuBefore);
    // CPU per read through the burst (the orders and probes included: a few hundred beside 15,000): the service's, all
    // its threads, and its main thread's, and this process's own, which opens the 15,000 connections on the same cores.
    const usPerRead = (seconds: (cpu: NonNullable<typeof serverCpuBefore>) => number): number =>
      serverCpuBefore && serverCpuAfter
        ? Math.round(((seconds(serverCpuAfter) - seconds(serverCpuBefore)) * 1e6) / READS)
        : NaN;
    const ownUsPerRead = Math.round((ownCpu.user + ownCpu.system) / READS);
    const ordered = await Promise.all(ordering);
    // The lease is renewed every third of LEASE_MS (5 s): two seconds more see a renewal the burst may have held up.
    await pause(2000);
    probingOn = false;
    await probing;
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
    const orderCounts = tally(ordered);
    console.log(
      [
        `postgres-reads: ${READS} reads in ${(burstMs / 1000).toFixed(1)} s: ${perSecond(served)} served/s, ${perSecond(shed)} shed/s`,
        `(${served} served, ${shed} shed, answered within p50/p90/p99/max ${[50, 90, 99, 100].map((p) => msAt(reads, p)).join('/')} ms,`,
        `CPU per read ${usPerRead((cpu) => cpu.processSec)} µs the service's, ${usPerRead((cpu) => cpu.mainThreadSec)} µs of it its main thread's,`,
        `${ownUsPerRead} µs this process's; ${metrics.get(sampleKey('store_round_trips_total'))} statements to Postgres in all);`,
        `orders ok ${orderCounts['200'] ?? 0}/${ordered.length} ${JSON.stringify(orderCounts)},`,
        `p50 ${msAt(ordered, 50)} ms, max ${msAt(ordered, 100)} ms`,
      ].join(' '),
    );
    const leaseLost = running.stdout.filter((line) => line.includes('gave up its identity'));
    const seen = JSON.stringify({
      orders: orderCounts,
      reads: readCounts,
      readiness: tally(readiness.map((status) => ({ status, kind: undefined, retryAfter: null, ms: 0 }))),
      errors: running.stdout.filter((line) => line.includes('"level":50')),
    });
    // Every order, never `interrupted`, `store_unavailable` or `timeout`: Postgres was healthy throughout.
    expect(orderCounts, seen).toEqual({ 200: ORDERS });
    expect(leaseLost, seen).toEqual([]);
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
    expect(metrics.get(sampleKey('store_lease_held'))).toBe(1);
    expect(metrics.get(sampleKey('store_read_connections'))).toBe(2);
    // The rest of the 503s were shed before reaching the store: connections beyond the unauthenticated budget of one
    // peer (src/http/server.ts) are answered 503 overloaded to make room, not reset.
    expect(metrics.get(sampleKey('store_reads_shed_total'))).toBeLessThanOrEqual(shed);
    expect(running.stdout.filter((line) => line.includes('Postgres unreachable'))).toEqual([]);
    // Each read may take up to 30 s by the contract, and the burst is one await: more than the suite's 30 s per test.
  }, 120_000);
});
