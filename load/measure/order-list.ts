/**
 * How fast does GET /orders answer over 100,000 orders in Postgres, page by page and filtered?
 * Kept in: docs/decisions/orders-listed-by-index.md
 *
 * A service on a fresh database of a throwaway Postgres (fsync on, as in
 * production); --orders done orders written straight into `orders` (ten
 * clients over the last hour, one in ten failed: load/lib/listed-orders.ts),
 * then GET /orders asked one request at a time, on loopback, in each shape
 * the console asks: the newest page, one client's, the failed ones, the last
 * ten minutes, and pages deep into the list (each following the one before's
 * cursor). Each shape's p50 and p99 over --requests requests, and which plan
 * Postgres chose for it.
 *
 *   npm run measure -- order-list
 *   npm run measure -- order-list --orders 100000 --requests 1000
 *   npm run measure -- order-list --without-indexes
 */
import pg from 'pg';
import { startThrowawayServer } from '../../scripts/postgres/throwaway.js';
import { writeDoneOrders } from '../lib/listed-orders.js';
import { parseCommandLine } from '../lib/command-line.js';
import { progress } from '../lib/rounds.js';
import { startServerProcess } from '../lib/server-process.js';
import { percentile } from '../lib/stats.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- order-list',
    summary: 'GET /orders p50 and p99 over many orders in Postgres, for each shape of query the console asks.',
  },
  {
    orders: { type: 'integer', default: 100_000, help: 'done orders in the table' },
    requests: { type: 'integer', default: 500, help: 'requests of each shape, one at a time' },
    'without-indexes': {
      type: 'boolean',
      help: "drop migration 13's list indexes first: what the list costs read off the table (the alternative)",
    },
  },
);

const database = await startThrowawayServer({ durable: true });
const server = await startServerProcess({ DATABASE_URL: database.url(), LOG_LEVEL: 'warn' });
try {
  const db = new pg.Client({ connectionString: database.url() });
  await db.connect();
  progress(`writing ${options.orders} done orders…`);
  await writeDoneOrders(db, options.orders);
  if (options['without-indexes']) {
    await db.query('DROP INDEX orders_listed, orders_listed_by_client, orders_failed_listed, orders_ended_listed');
    // What the client's filter was served by before migration 13.
    await db.query('CREATE INDEX orders_by_client ON orders (client)');
  }
  const since = new Date(Date.now() - 600_000).toISOString();
  const shapes: Record<string, string> = {
    'newest 50': '/orders?limit=50',
    "one client's newest 50": '/orders?client=c3&limit=50',
    'failed, newest 50': '/orders?state=failed&limit=50',
    "one client's failed": '/orders?client=c3&state=failed&limit=50',
    'the last ten minutes': `/orders?since=${encodeURIComponent(since)}&limit=50`,
  };
  const ask = async (path: string): Promise<{ ms: number; next: string | null }> => {
    const started = performance.now();
    const response = await fetch(new URL(path, server.url));
    const body = (await response.json()) as { next: string | null };
    if (response.status !== 200) throw new Error(`${path}: ${response.status} ${JSON.stringify(body)}`);
    return { ms: performance.now() - started, next: body.next };
  };
  const rows: Array<[string, number, number]> = [];
  for (const [name, path] of Object.entries(shapes)) {
    for (let i = 0; i < 20; i++) await ask(path);
    const times: number[] = [];
    for (let i = 0; i < options.requests; i++) times.push((await ask(path)).ms);
    rows.push([name, ...quantiles(times)]);
  }
  // Deep pages: each request the next page of the one before, 50 at a time, from the newest to the oldest.
  const deep: number[] = [];
  for (let cursor: string | null = null, i = 0; i < options.requests; i++) {
    const answer: { ms: number; next: string | null } = await ask(
      `/orders?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    deep.push(answer.ms);
    cursor = answer.next;
    if (cursor === null) break;
  }
  rows.push([`pages 1–${deep.length}, each after the last`, ...quantiles(deep)]);
  const { rows: plan } = await db.query<{ 'QUERY PLAN': string }>(
    `EXPLAIN SELECT order_id FROM orders WHERE (received_at, run) < (now(), 9223372036854775807)
      ORDER BY received_at DESC, run DESC LIMIT 51`,
  );
  await db.end();
  console.log(
    `\nGET /orders over ${options.orders.toLocaleString()} orders in Postgres${options['without-indexes'] ? ", without migrations 13 and 20's indexes" : ''}, one request at a time:`,
  );
  console.log(`${'shape'.padEnd(36)}${'p50 ms'.padStart(8)}${'p99 ms'.padStart(8)}`);
  for (const [name, p50, p99] of rows)
    console.log(`${name.padEnd(36)}${p50.toFixed(1).padStart(8)}${p99.toFixed(1).padStart(8)}`);
  console.log(`\nthe newest page's plan:\n${plan.map((row) => `  ${row['QUERY PLAN']}`).join('\n')}`);
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  await database.stop();
}

function quantiles(times: number[]): [number, number] {
  const sorted = [...times].sort((a, b) => a - b);
  return [percentile(sorted, 50), percentile(sorted, 99)];
}
