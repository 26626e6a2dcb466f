/**
 * What does an order in flight hold in memory, on the main thread and on the step threads?
 * Kept in: docs/decisions/an-order-in-flight.md
 *
 * The service as `npm start` runs it (in memory, two step threads), with its
 * inspector on a free port of loopback. A heap snapshot of every isolate — the
 * main thread's and each step thread's, taken after a full collection — at
 * rest, then with `--orders` orders held in flight (payment and vendor asleep
 * for a minute, the courier done: two steps asleep an order, one connection
 * each); the difference by constructor, divided by the orders. Heap
 * snapshots count what is reachable, whatever the load generator or the
 * machine's speed: two rounds of the same build agree within about 1%, where
 * RSS under load moves by ±10%. What they leave out is memory outside the
 * V8 heaps (the sockets' native side, thread stacks) and the garbage a heap
 * carries between collections, which `npm run load:go -- wide` measures.
 *
 *   npm run measure -- order-memory
 *   npm run measure -- order-memory --orders 4000 --rounds 3
 */
import { Agent, request } from 'node:http';
import { freePort } from '../../scripts/free-port.js';
import { Inspector } from '../lib/inspector.js';
import { parseCommandLine } from '../lib/command-line.js';
import { formatSpread, inRounds, progress, roundsOption, spreadOf } from '../lib/rounds.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { formatTable } from '../lib/table.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- order-memory',
    summary: 'Heap bytes an order in flight holds on the main thread and on the step threads, by constructor.',
  },
  {
    rounds: roundsOption(1),
    orders: { type: 'integer', default: 2000, min: 100, help: 'orders held in flight at the second snapshot' },
    top: { type: 'integer', default: 15, min: 1, help: 'rows per isolate in the table by constructor' },
  },
);

/** Every node of a snapshot, summed by what it is: `type:constructor` for objects, the type alone for strings and code. */
type HeapCensus = Map<string, { count: number; bytes: number }>;

/** A heap snapshot as V8 serializes it (only what the census reads). */
interface HeapSnapshot {
  readonly snapshot: { readonly meta: { readonly node_fields: string[]; readonly node_types: [string[]] } };
  readonly nodes: number[];
  readonly strings: string[];
}

const NAMELESS = new Set(['string', 'concatenated string', 'sliced string', 'code', 'number', 'regexp']);

function censusOf(serialized: string): HeapCensus {
  const snapshot = JSON.parse(serialized) as HeapSnapshot;
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((field) => fields.indexOf(field)) as [
    number,
    number,
    number,
  ];
  const census: HeapCensus = new Map();
  for (let node = 0; node < snapshot.nodes.length; node += fields.length) {
    const type = types[snapshot.nodes[node + typeAt]!]!;
    const name = NAMELESS.has(type) ? '' : snapshot.strings[snapshot.nodes[node + nameAt]!]!.slice(0, 48);
    const key = name === '' ? type : `${type}:${name}`;
    const entry = census.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[node + sizeAt]!;
    census.set(key, entry);
  }
  return census;
}

/** Several isolates' censuses as one. */
function together(censuses: readonly HeapCensus[]): HeapCensus {
  const sum: HeapCensus = new Map();
  for (const census of censuses)
    for (const [what, { count, bytes }] of census) {
      const entry = sum.get(what) ?? { count: 0, bytes: 0 };
      sum.set(what, { count: entry.count + count, bytes: entry.bytes + bytes });
    }
  return sum;
}

/**
 * `after` less `before`, per order, largest first. Compiled code is left out: the JIT compiles more as the orders
 * come in, but no order holds it.
 */
function perOrder(before: HeapCensus, after: HeapCensus, orders: number) {
  const rows = [...after]
    .filter(([what]) => what !== 'code')
    .map(([what, { count, bytes }]) => {
      const was = before.get(what) ?? { count: 0, bytes: 0 };
      return { what, count: (count - was.count) / orders, bytes: (bytes - was.bytes) / orders };
    });
  return rows.sort((a, b) => b.bytes - a.bytes);
}

const HELD_MS = 60_000;

/** POST an order on a connection of `agent`'s; settled when answered, or when the server is gone. */
function send(url: URL, agent: Agent, orderId: string, delayMs: number): Promise<void> {
  const body = JSON.stringify({
    order_id: orderId,
    amount: 1200,
    delay_ms: { payment: delayMs, vendor: delayMs, courier: 1 },
  });
  return new Promise((resolve) => {
    const req = request(new URL('/order', url), {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('response', (res) => res.resume().on('end', resolve).on('error', resolve));
    req.on('error', () => resolve());
    req.end(body);
  });
}

async function health(url: URL): Promise<{ running_steps: number; orders_in_flight: number }> {
  return (await (await fetch(new URL('/healthz', url))).json()) as { running_steps: number; orders_in_flight: number };
}

interface RoundResult {
  readonly main: ReturnType<typeof perOrder>;
  readonly threads: ReturnType<typeof perOrder>;
  readonly threadCount: number;
}

async function round(index: number): Promise<RoundResult> {
  const port = await freePort();
  const server: ServerProcess = await startServerProcess({
    NODE_OPTIONS: `--inspect=127.0.0.1:${port}`,
    COURIERS: '5',
    ORDER_TIMEOUT_MS: String(2 * HELD_MS),
    MAX_INFLIGHT: String(2 * options.orders),
    LOG_LEVEL: 'warn',
  });
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  let inspector: Inspector | undefined;
  try {
    // Warm: the code the orders run is compiled, every thread has run steps, and nothing is left in flight.
    await Promise.all(Array.from({ length: 200 }, (_, n) => send(server.url, agent, `warm-${index}-${n}`, 1)));
    inspector = await Inspector.connect(port);
    const threadSessions = [...inspector.workers];
    const mainBefore = censusOf(await inspector.snapshot());
    const threadsBefore = await Promise.all(
      threadSessions.map(async ({ sessionId }) => censusOf(await inspector!.snapshot(sessionId))),
    );

    progress(`holding ${options.orders} orders`);
    // Not awaited: they are answered only when the server is killed at the round's end.
    for (let n = 0; n < options.orders; n++) void send(server.url, agent, `held-${index}-${n}`, HELD_MS);
    for (;;) {
      const now = await health(server.url);
      // Both sleeping steps of every order on a thread, its courier step done.
      if (now.orders_in_flight === options.orders && now.running_steps === 2 * options.orders) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const mainAfter = censusOf(await inspector.snapshot());
    const threadsAfter = await Promise.all(
      threadSessions.map(async ({ sessionId }) => censusOf(await inspector!.snapshot(sessionId))),
    );
    return {
      main: perOrder(mainBefore, mainAfter, options.orders),
      threads: perOrder(together(threadsBefore), together(threadsAfter), options.orders),
      threadCount: threadSessions.length,
    };
  } finally {
    inspector?.close();
    server.child.kill('SIGKILL');
    await server.exited;
    agent.destroy();
  }
}

const results = await inRounds(options.rounds, round);
const total = (rows: RoundResult['main']): number => rows.reduce((sum, row) => sum + row.bytes, 0);
const bytes = (value: number): string => Math.round(value).toLocaleString('en-US');

console.log(
  `\nHeap bytes an order in flight holds (${options.orders.toLocaleString('en-US')} held, ${results.length} round(s); ` +
    `${results[0]!.threadCount} step threads, together):`,
);
console.log(
  formatTable(
    [{ heading: 'isolate' }, { heading: 'bytes an order', align: 'right' }],
    [
      ['main thread', formatSpread(spreadOf(results.map((r) => total(r.main))), bytes)],
      ['step threads', formatSpread(spreadOf(results.map((r) => total(r.threads))), bytes)],
    ],
  ),
);
for (const isolate of ['main', 'threads'] as const) {
  const last = results.at(-1)![isolate];
  console.log(`\n${isolate === 'main' ? 'main thread' : 'step threads'}, by constructor (last round):`);
  console.log(
    formatTable(
      [
        { heading: 'bytes an order', align: 'right' },
        { heading: 'objects an order', align: 'right' },
        { heading: 'what (heap snapshot type:constructor)' },
      ],
      last.slice(0, options.top).map((row) => [bytes(row.bytes), row.count.toFixed(2), row.what]),
    ),
  );
}
