/**
 * What do webhooks cost the order path, and how fast does one instance deliver?
 * Kept in: docs/decisions/side-threads.md
 *
 * - The order path: the `overhead` scenario's orders at a fixed rate against
 *   a server with no webhook endpoint and one whose client has two (each a
 *   receiver in this process on loopback, answering 204), alternating in
 *   each round: the main thread's CPU per order (from /proc; the deliveries
 *   run on a thread of their own, so the process's CPU per order is shown
 *   too) and the orders' p99, two ÷ none taken within each round.
 * - Delivery throughput: with two endpoints, a burst of orders as fast as
 *   they are answered, then the deliveries per second from the burst's
 *   start to the last delivery received.
 *
 * With --durable, each server runs on a fresh database of a throwaway
 * Postgres (the outbox's triggers, graphile-worker's lanes).
 *
 *   npm run measure -- webhook
 *   npm run measure -- webhook --rounds 5 --seconds 6
 *   npm run measure -- webhook --durable
 */
import { createServer, type Server } from 'node:http';
import pg from 'pg';
import { startThrowawayServer } from '../../scripts/postgres/throwaway.js';
import type { AddressInfo } from 'node:net';
import { parseCommandLine } from '../lib/command-line.js';
import { formatRatio, formatSpread, inRounds, pairRatios, progress, roundsOption, spreadOf } from '../lib/rounds.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { driveOverhead, mainThreadCpuSeconds, overhead } from './overhead-orders.js';
import { serverLog } from './server-logs.js';
import { cpuTimeOf } from '../lib/proc.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- webhook-cost',
    summary: [
      'What two webhook endpoints cost the order path (main-thread CPU per order, p99) against none, at a fixed rate,',
      'alternating; and the deliveries per second of one instance after a burst of orders.',
    ].join('\n'),
  },
  {
    rounds: roundsOption(3),
    seconds: { type: 'integer', default: 4, help: 'seconds of each phase: warm-up, fixed rate, burst' },
    rate: { type: 'integer', default: 400, help: 'orders/s of the fixed-rate phase' },
    durable: { type: 'boolean', help: 'each server on a fresh database of a throwaway Postgres' },
  },
);

interface Receiver {
  readonly url: string;
  received: number;
  lastAt: number;
  close(): Promise<void>;
}

async function receiver(): Promise<Receiver> {
  const state = { received: 0, lastAt: 0 };
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      state.received++;
      state.lastAt = performance.now();
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/hook`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

async function register(server: ServerProcess, url: string): Promise<void> {
  const response = await fetch(new URL('/webhooks', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url }),
  });
  if (response.status !== 201) throw new Error(`POST /webhooks answered ${response.status}`);
}

const MODES = ['none', 'two'] as const;
type Mode = (typeof MODES)[number];
const ENV = { ...overhead.serverEnv, WEBHOOK_ALLOW_PRIVATE_TARGETS: 'on', EVENTS_MAX: '10000000' };

async function waitFor(done: () => boolean, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (!done() && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
}

const database = options.durable ? await startThrowawayServer({ durable: true }) : undefined;
let databases = 0;
async function databaseEnv(): Promise<Record<string, string>> {
  if (!database) return {};
  const admin = new pg.Client({ connectionString: database.url() });
  await admin.connect();
  const name = `webhooks_${++databases}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return { DATABASE_URL: database.url(name) };
}

const rounds = await inRounds(options.rounds, async () => {
  const cpu = {} as Record<Mode, number>;
  const processCpu = {} as Record<Mode, number>;
  const processSeconds = (server: ServerProcess): number => cpuTimeOf(server.child.pid!)?.processSec ?? NaN;
  const p99 = {} as Record<Mode, number>;
  let deliveriesPerSecond = NaN;
  for (const mode of MODES) {
    const server = await startServerProcess(
      { ...ENV, ...(await databaseEnv()) },
      { logFile: serverLog(`webhooks-${mode}-${Date.now()}`) },
    );
    const hooks = mode === 'two' ? [await receiver(), await receiver()] : [];
    try {
      for (const hook of hooks) await register(server, hook.url);
      const delivered = (): number => hooks.reduce((sum, hook) => sum + hook.received, 0);
      const warm = await driveOverhead(server, options.seconds, 300);
      // The warm-up's deliveries done before the measured phase begins.
      if (mode === 'two') await waitFor(() => delivered() >= 2 * warm.requests, 60_000);
      const cpuBefore = mainThreadCpuSeconds(server);
      const processBefore = processSeconds(server);
      const paced = await driveOverhead(server, options.seconds, options.rate);
      if (paced.non2xx > 0) throw new Error(`${mode}: ${paced.non2xx} answers were not 2xx`);
      // Deliveries still on their way belong to these orders: counted in their CPU.
      const expected = 2 * (warm.requests + paced.requests);
      if (mode === 'two') await waitFor(() => delivered() >= expected, 30_000);
      cpu[mode] = ((mainThreadCpuSeconds(server) - cpuBefore) / paced.requests) * 1e6;
      processCpu[mode] = ((processSeconds(server) - processBefore) / paced.requests) * 1e6;
      p99[mode] = paced.p99Ms;
      progress(
        `  ${mode}: ${cpu[mode].toFixed(0)} µs/order of main-thread CPU (process ${processCpu[mode].toFixed(0)}), p99 ${p99[mode]} ms`,
      );
      if (mode === 'two') {
        const before = delivered();
        const startedAt = performance.now();
        const burst = await driveOverhead(server, options.seconds, undefined);
        const target = before + 2 * burst.requests;
        await waitFor(() => delivered() >= target, 120_000);
        const last = Math.max(...hooks.map((hook) => hook.lastAt));
        deliveriesPerSecond = (delivered() - before) / ((last - startedAt) / 1000);
        progress(
          `  burst: ${burst.requests} orders (${burst.perSecond.toFixed(0)}/s), ${delivered() - before} deliveries, ${deliveriesPerSecond.toFixed(0)}/s`,
        );
      }
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      await Promise.all(hooks.map((hook) => hook.close()));
    }
  }
  return {
    cpuNone: cpu.none,
    cpuTwo: cpu.two,
    processNone: processCpu.none,
    processTwo: processCpu.two,
    p99None: p99.none,
    p99Two: p99.two,
    deliveriesPerSecond,
  };
});

await database?.stop();

type Figure = keyof (typeof rounds)[number];
const across = (key: Figure) => spreadOf(rounds.map((round) => round[key]));
console.log(
  `median (min–max) of ${options.rounds} rounds; overhead orders at ${options.rate}/s; receivers on loopback answering 204${options.durable ? '; durable (Postgres)' : ''}`,
);
console.table([
  { figure: 'main-thread CPU per order, no endpoint, µs', value: formatSpread(across('cpuNone')) },
  {
    figure: 'main-thread CPU per order, two endpoints, µs',
    value: formatSpread(across('cpuTwo')),
  },
  {
    figure: 'two ÷ none, CPU, round by round',
    value: formatRatio(spreadOf(pairRatios(across('cpuTwo').values, across('cpuNone').values))),
  },
  {
    figure: 'whole-process CPU per order, no endpoint / two, µs',
    value: `${formatSpread(across('processNone'))} / ${formatSpread(across('processTwo'))}`,
  },
  { figure: 'p99, no endpoint, ms', value: formatSpread(across('p99None')) },
  { figure: 'p99, two endpoints, ms', value: formatSpread(across('p99Two')) },
  {
    figure: 'two ÷ none, p99, round by round',
    value: formatRatio(spreadOf(pairRatios(across('p99Two').values, across('p99None').values))),
  },
  {
    figure: 'deliveries per second, one instance, after a burst',
    value: formatSpread(across('deliveriesPerSecond')),
  },
]);
