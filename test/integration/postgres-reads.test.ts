/**
 * Reads against orders, on a real Postgres and the real process: a burst of
 * GET /orders/{id} is bounded — it may be told to come back later (503
 * overloaded, Retry-After), never take the connections the orders need, and
 * never make the instance believe Postgres is down while it answers.
 */
import { request } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../../load/lib/server-process.js';
import { orderBody } from '../support/orders.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  startTestPostgres,
  type TestPostgres,
} from '../support/postgres.js';
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

const READS = 10_000;
const ORDERS_EVERY_MS = 50;

interface Answer {
  readonly status: number | 'failed';
  readonly kind: string | undefined;
  readonly retryAfter: string | null;
}

async function answer(response: Promise<Response>): Promise<Answer> {
  try {
    const res = await response;
    const body = (await res.json()) as { error?: { kind: string } };
    return { status: res.status, kind: body.error?.kind, retryAfter: res.headers.get('retry-after') };
  } catch (error) {
    return {
      status: 'failed',
      kind: String((error as { cause?: { code?: string } }).cause?.code ?? error),
      retryAfter: null,
    };
  }
}

/**
 * POST /order on a connection of its own: never one of the burst's
 * keep-alive sockets, which the server may be closing as it is reused.
 */
function postOrder(url: URL, body: unknown): Promise<Answer> {
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
          }),
        );
      },
    );
    req.on('error', (error) =>
      resolve({ status: 'failed', kind: String((error as { code?: string }).code ?? error), retryAfter: null }),
    );
    req.end(JSON.stringify(body));
  });
}

/**
 * GET /orders/{id} on a connection closed after it: none is reused, so none can be closed by the server's keep-alive
 * timeout as it is reused.
 */
const read = (url: URL, orderId: string): Promise<Answer> =>
  answer(fetch(new URL(`/orders/${orderId}`, url), { headers: { connection: 'close' } }));

function tally(answers: readonly Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { status, kind } of answers) {
    const key = kind ? `${status} ${kind}` : String(status);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`a burst of reads${POSTGRES_SKIPPED}`, () => {
  it('of 10,000 unknown orders at once while orders arrive at 20/s: the orders are served, Postgres is never declared down, and reads beyond the bound are told 503 overloaded with Retry-After', async () => {
    const url = await freshDatabase(server!);
    // Errors only: a warn line for each of thousands of 503s would fill the pipe to this busy process and stall the
    // server on it.
    // A long lease: 10,000 connections at once can hold a starved event loop for seconds here, and the lease is not
    // what this is about.
    target = await startServerProcess({ THREADS: '2', LOG_LEVEL: 'error', DATABASE_URL: url, LEASE_MS: '20000' });
    const running = target;
    // The reads' connections, opened before the burst, as a running service has them.
    expect((await Promise.all([0, 1].map((i) => read(running.url, `warm-${i}`)))).map((warm) => warm.status)).toEqual([
      404, 404,
    ]);

    const orders: Array<Promise<Answer>> = [];
    let ordering = true;
    const arrivals = (async () => {
      while (ordering) {
        const body = orderBody({ delay_ms: { payment: 20, vendor: 20, courier: 20 } });
        orders.push(postOrder(running.url, body));
        await pause(ORDERS_EVERY_MS);
      }
    })();
    await pause(500);
    const reads = await Promise.all(Array.from({ length: READS }, (_, i) => read(running.url, `unknown-${i}`)));
    await pause(1000);
    ordering = false;
    await arrivals;
    const ordered = await Promise.all(orders);

    const seen = JSON.stringify({
      orders: tally(ordered),
      reads: tally(reads),
      errors: running.stdout.filter((line) => line.includes('"level":50')),
    });
    expect(tally(ordered), seen).toEqual({ 200: ordered.length });
    // Each read is answered: not found, or sent away to come back later — never "the store is unavailable".
    const readCounts = tally(reads);
    expect(
      Object.keys(readCounts).filter((key) => key !== '404 not_found' && key !== '503 overloaded'),
      seen,
    ).toEqual([]);
    expect(readCounts['404 not_found']).toBeGreaterThan(0);
    for (const answered of reads) if (answered.status === 503) expect(answered.retryAfter).toBe('1');
    expect(running.stdout.filter((line) => line.includes('Postgres unreachable'))).toEqual([]);
  });
});
