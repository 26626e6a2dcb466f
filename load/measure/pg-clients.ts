/**
 * Which Postgres client: `postgres` (porsager) against `pg` (node-postgres)
 * on the query shapes the durable mode will run, at concurrency 1 and 50,
 * several rounds in alternating order, against a throwaway server.
 *
 * Three figures per cell: operations per second, latency p50, and the
 * client's CPU time per operation — the service's main thread is its
 * bottleneck, and the client runs on it, so CPU per query matters as much
 * as speed.
 *
 * Both clients get a pool of 10 connections and prepared statements (the
 * default in `postgres`; a `name` per statement in `pg`), each written the
 * way its documentation writes it.
 *
 *   npm run measure:pg                 # non-durable server: the clients' own cost
 *   npm run measure:pg -- --durable    # fsync and synchronous commit on
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import postgres from 'postgres';
import { startThrowawayServer } from '../../scripts/postgres/throwaway.js';
import { percentile } from '../lib/stats.js';

const ROUNDS = Number(process.env['ROUNDS'] ?? 5);
const CELL_MS = Number(process.env['CELL_MS'] ?? 1000);
const POOL = 10;
const CONCURRENCIES = [1, 50] as const;
const durable = process.argv.includes('--durable');

const SCHEMA = `
  CREATE TABLE orders (
    order_id text PRIMARY KEY,
    fingerprint text NOT NULL,
    state text NOT NULL,
    run int NOT NULL DEFAULT 1,
    lease_owner text,
    lease_expires_at timestamptz,
    outcome jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE ledger (
    order_id text NOT NULL,
    run int NOT NULL,
    amount bigint NOT NULL,
    state text NOT NULL,
    PRIMARY KEY (order_id, run)
  );`;

const SEEDED = 10_000;
const INSERT = `INSERT INTO orders (order_id, fingerprint, state, lease_owner, lease_expires_at)
  VALUES ($1, $2, 'received', 'bench', now() + interval '5 seconds') ON CONFLICT DO NOTHING RETURNING order_id`;
const SELECT = 'SELECT order_id, fingerprint, state, run, outcome FROM orders WHERE order_id = $1';
const CHARGE = "INSERT INTO ledger (order_id, run, amount, state) VALUES ($1, 1, $2, 'charged') ON CONFLICT DO NOTHING";
const TOUCH = "UPDATE orders SET lease_expires_at = now() + interval '5 seconds' WHERE order_id = $1";
// The transaction's two writes as one statement: one round trip, atomic by itself.
const CTE = `WITH moved AS (UPDATE orders SET state = 'payment_requested' WHERE order_id = $1 RETURNING order_id)
  INSERT INTO ledger (order_id, run, amount, state) SELECT order_id, 1, $2, 'charged' FROM moved ON CONFLICT DO NOTHING`;

/** One operation of a shape: `key` is a fresh id, `seeded` the id of a row that exists. */
type Operation = (key: string, seeded: string) => Promise<unknown>;

interface Client {
  readonly name: string;
  readonly shapes: Record<ShapeName, Operation>;
  end(): Promise<void>;
}

const SHAPES = {
  insert: 'INSERT … ON CONFLICT DO NOTHING RETURNING',
  select: 'SELECT by primary key',
  transaction: 'BEGIN; INSERT order; INSERT ledger; COMMIT (postgres: 3 round trips; pg pipelined: 1)',
  cte: 'UPDATE order + INSERT ledger as one statement (writable CTE): 1 round trip, atomic by itself',
  batch: '3 independent statements at once (postgres: Promise.all on the pool; pg: pipelined on one client)',
} as const;
type ShapeName = keyof typeof SHAPES;

/**
 * `postgres` as its README writes it: tagged templates, prepared on each
 * connection on first use. A transaction's array is pipelined between
 * BEGIN and COMMIT (three round trips); queries sent while every connection
 * is busy are pipelined onto one.
 */
function porsager(url: string): Client {
  const sql = postgres(url, { max: POOL, onnotice: () => {} });
  const insert = (tx: postgres.Sql | postgres.TransactionSql, key: string) =>
    tx`INSERT INTO orders (order_id, fingerprint, state, lease_owner, lease_expires_at)
       VALUES (${key}, ${'f'}, 'received', 'bench', now() + interval '5 seconds') ON CONFLICT DO NOTHING RETURNING order_id`;
  const select = (seeded: string) =>
    sql`SELECT order_id, fingerprint, state, run, outcome FROM orders WHERE order_id = ${seeded}`;
  return {
    name: 'postgres',
    shapes: {
      insert: (key) => insert(sql, key),
      select: (_, seeded) => select(seeded),
      transaction: (key) =>
        sql.begin((tx) => [
          insert(tx, key),
          tx`INSERT INTO ledger (order_id, run, amount, state) VALUES (${key}, 1, ${1200}, 'charged') ON CONFLICT DO NOTHING`,
        ]),
      cte: (_, seeded) =>
        sql`WITH moved AS (UPDATE orders SET state = 'payment_requested' WHERE order_id = ${seeded} RETURNING order_id)
            INSERT INTO ledger (order_id, run, amount, state) SELECT order_id, 1, ${1200}, 'charged' FROM moved ON CONFLICT DO NOTHING`,
      batch: (key, seeded) =>
        Promise.all([
          insert(sql, key),
          sql`UPDATE orders SET lease_expires_at = now() + interval '5 seconds' WHERE order_id = ${seeded}`,
          select(seeded),
        ]),
    },
    end: () => sql.end(),
  };
}

/**
 * `pg` with named (prepared) statements. With `pipeline: true` (pg 8.23) a
 * checked-out client sends its queries without waiting for each answer: a
 * transaction's BEGIN, statements and COMMIT go in one round trip.
 */
function nodePostgres(url: string): Client {
  const pool = new pg.Pool({ connectionString: url, max: POOL, pipeline: true });
  const query = (name: string, text: string, values: unknown[]) => pool.query({ name, text, values });
  return {
    name: 'pg',
    shapes: {
      insert: (key) => query('insert', INSERT, [key, 'f']),
      select: (_, seeded) => query('select', SELECT, [seeded]),
      transaction: async (key) => {
        const client = await pool.connect();
        try {
          await Promise.all([
            client.query('BEGIN'),
            client.query({ name: 'insert', text: INSERT, values: [key, 'f'] }),
            client.query({ name: 'charge', text: CHARGE, values: [key, 1200] }),
            client.query('COMMIT'),
          ]);
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        } finally {
          client.release();
        }
      },
      cte: (_, seeded) => query('cte', CTE, [seeded, 1200]),
      batch: async (key, seeded) => {
        const client = await pool.connect();
        try {
          return await Promise.all([
            client.query({ name: 'insert', text: INSERT, values: [key, 'f'] }),
            client.query({ name: 'touch', text: TOUCH, values: [seeded] }),
            client.query({ name: 'select', text: SELECT, values: [seeded] }),
          ]);
        } finally {
          client.release();
        }
      },
    },
    end: () => pool.end(),
  };
}

interface Cell {
  readonly opsPerSec: number;
  readonly p50: number;
  readonly p99: number;
  /** The client process's CPU time per operation, µs. */
  readonly cpuUs: number;
}

async function measure(operation: Operation, concurrency: number): Promise<Cell> {
  const latencies: number[] = [];
  const tag = randomUUID().slice(0, 8);
  let next = 0;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const until = started + CELL_MS;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const n = next++;
        const begun = performance.now();
        await operation(`${tag}-${n}`, `seed-${n % SEEDED}`);
        latencies.push(performance.now() - begun);
      }
    }),
  );
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort((a, b) => a - b);
  return {
    opsPerSec: (latencies.length / elapsed) * 1000,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    cpuUs: (cpu.user + cpu.system) / latencies.length,
  };
}

const median = (values: number[]): number =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
const spread = (values: number[]): string => `${Math.round(Math.min(...values))}–${Math.round(Math.max(...values))}`;

const server = await startThrowawayServer({ durable });
try {
  const setup = postgres(server.url(), { onnotice: () => {} });
  await setup.unsafe(SCHEMA);
  await setup.unsafe(
    `INSERT INTO orders (order_id, fingerprint, state) SELECT 'seed-' || i, 'f', 'received' FROM generate_series(0, ${SEEDED - 1}) i`,
  );
  await setup.end();

  const clients = [porsager(server.url()), nodePostgres(server.url())];
  // Connections opened and statements prepared before anything is timed.
  for (const client of clients)
    for (const shape of Object.values(client.shapes))
      await Promise.all(Array.from({ length: 50 }, (_, i) => shape(randomUUID(), `seed-${i}`)));

  const results = new Map<string, Cell[]>();
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? clients : [...clients].reverse();
    for (const shape of Object.keys(SHAPES) as ShapeName[]) {
      for (const concurrency of CONCURRENCIES) {
        for (const client of order) {
          const key = `${shape}|${concurrency}|${client.name}`;
          results.set(key, [...(results.get(key) ?? []), await measure(client.shapes[shape], concurrency)]);
        }
      }
    }
    process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
  }
  await Promise.all(clients.map((client) => client.end()));

  console.log(
    `\n${durable ? 'durable (fsync, synchronous_commit on)' : 'not durable (fsync off, synchronous_commit off)'}; pool ${POOL}; ${ROUNDS} rounds of ${CELL_MS} ms; medians, ops/s range across rounds\n`,
  );
  const rows = [];
  for (const shape of Object.keys(SHAPES) as ShapeName[]) {
    for (const concurrency of CONCURRENCIES) {
      const cells = (name: string) => results.get(`${shape}|${concurrency}|${name}`)!;
      const row: Record<string, string | number> = { shape, conc: concurrency };
      for (const name of ['postgres', 'pg']) {
        const list = cells(name);
        row[`${name} ops/s`] =
          `${Math.round(median(list.map((c) => c.opsPerSec)))} (${spread(list.map((c) => c.opsPerSec))})`;
        row[`${name} p50 ms`] = median(list.map((c) => c.p50)).toFixed(2);
        row[`${name} CPU µs/op`] = Math.round(median(list.map((c) => c.cpuUs)));
      }
      // Per round, then the median of the ratios: both clients ran in the same round, minutes apart at most.
      const ratios = cells('postgres').map((c, i) => c.opsPerSec / cells('pg')[i]!.opsPerSec);
      row['postgres ÷ pg'] = median(ratios).toFixed(2);
      rows.push(row);
    }
  }
  console.table(rows);
  console.log(
    Object.entries(SHAPES)
      .map(([name, text]) => `${name}: ${text}`)
      .join('\n'),
  );
} finally {
  await server.stop();
}
