/**
 * What the durable mode costs: the `overhead` and `light` scenarios against
 * a server in memory (no DATABASE_URL) and one on Postgres, alternating,
 * several rounds, side by side in one run. Postgres is a throwaway server
 * with fsync and synchronous commit on, as in production, on the same
 * machine (and cores) as the service and the load — a fresh database for
 * every Postgres round.
 *
 * Per mode and round:
 * - overhead, saturated: orders/s (50 connections, 1 ms steps, COURIERS=5);
 * - overhead at a fixed rate: the CPU per order of the service's main thread
 *   and of Postgres (all its processes), and the round trips to Postgres
 *   per order (`store_round_trips_total`);
 * - light: p50 and p90 of orders with the default delays, one at a time
 *   (timed here, to the microsecond, rather than by autocannon's whole ms),
 *   first, on a server that has not yet been saturated.
 *
 *   npm run measure:durable
 *   npm run measure:durable -- --rounds 5 --seconds 6
 */
import pg from 'pg';
import { postmasterPid } from '../../scripts/postgres/server.js';
import { startThrowawayServer } from '../../scripts/postgres/throwaway.js';
import { driveOverhead, freshOrderId, mainThreadCpuSeconds, overhead } from './overhead-orders.js';
import { cpuSecondsOfTree } from '../lib/proc.js';
import { parseCommandLine } from '../lib/command-line.js';
import { formatRatio, formatSpread, inRounds, pairRatios, progress, roundsOption, spreadOf } from '../lib/rounds.js';
import { SCENARIOS } from '../suite/scenarios.js';
import { serverLog } from './server-logs.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { loadAverage } from '../lib/run-info.js';
import { percentile } from '../lib/stats.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure:durable --',
    summary: [
      'What the durable mode costs: overhead (saturated orders/s, main-thread CPU and Postgres round trips per order at a fixed rate)',
      'and light (p50, p90) against a server in memory and one on Postgres (fsync on), alternating.',
    ].join('\n'),
  },
  {
    rounds: roundsOption(3),
    seconds: { type: 'integer', default: 4, help: 'seconds of each overhead phase (warm-up, fixed rate, saturated)' },
    rate: { type: 'integer', default: 400, help: 'orders/s of the fixed-rate phase' },
    'light-orders': { type: 'integer', default: 40, help: 'light orders per mode and round, one at a time' },
    'light-only': { type: 'boolean', help: 'light alone (its figures are the first to suffer from a busy machine)' },
  },
);

const light = SCENARIOS.find((scenario) => scenario.name === 'light')!;

const database = await startThrowawayServer({ durable: true });
const postgresPid = (await postmasterPid(database.dataDir))!;
let databases = 0;
async function freshDatabaseUrl(): Promise<string> {
  const admin = new pg.Client({ connectionString: database.url() });
  await admin.connect();
  const name = `cost_${++databases}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return database.url(name);
}

type Mode = 'memory' | 'postgres';
const MODES: readonly Mode[] = ['memory', 'postgres'];

interface RoundFigures {
  readonly ordersPerSecond: number;
  readonly cpuUsPerOrder: number;
  readonly postgresCpuUsPerOrder: number;
  readonly roundTripsPerOrder: number;
  readonly lightP50: number;
  readonly lightP90: number;
}

async function roundTrips(server: ServerProcess): Promise<number> {
  const text = await (await fetch(new URL('/metrics', server.url))).text();
  const match = /^store_round_trips_total (\d+)/m.exec(text);
  return match ? Number(match[1]) : 0;
}

async function lightLatencies(server: ServerProcess, orders: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < orders; i++) {
    const started = performance.now();
    const response = await fetch(new URL('/order', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...light.order(0), order_id: freshOrderId() }),
    });
    await response.text();
    if (response.status !== 200) throw new Error(`light order answered ${response.status}`);
    latencies.push(performance.now() - started);
  }
  return latencies.sort((a, b) => a - b);
}

const rounds = await inRounds(options.rounds, async () => {
  const round = {} as Record<Mode, RoundFigures>;
  for (const mode of MODES) {
    const env = {
      ...overhead.serverEnv,
      LOG_LEVEL: 'warn',
      ...(mode === 'postgres' ? { DATABASE_URL: await freshDatabaseUrl() } : {}),
    };
    const server = await startServerProcess(env, { logFile: serverLog(mode) });
    try {
      // Light first, after a short warm-up: measured after the saturated phase it would time Postgres's
      // clean-up of that phase (autovacuum, a checkpoint), not the orders.
      await driveOverhead(server, 1, 300);
      const latencies = await lightLatencies(server, options['light-orders']);
      const light = { lightP50: percentile(latencies, 50), lightP90: percentile(latencies, 90) };
      round[mode] = {
        ordersPerSecond: NaN,
        cpuUsPerOrder: NaN,
        postgresCpuUsPerOrder: NaN,
        roundTripsPerOrder: NaN,
        ...light,
      };
      if (options['light-only']) continue;
      await driveOverhead(server, options.seconds, 300); // warm-up
      const cpuBefore = mainThreadCpuSeconds(server);
      const postgresBefore = cpuSecondsOfTree(postgresPid);
      const tripsBefore = await roundTrips(server);
      const paced = await driveOverhead(server, options.seconds, options.rate);
      const cpuUsPerOrder = ((mainThreadCpuSeconds(server) - cpuBefore) / paced.requests) * 1e6;
      const postgresCpuUsPerOrder = ((cpuSecondsOfTree(postgresPid) - postgresBefore) / paced.requests) * 1e6;
      const roundTripsPerOrder = ((await roundTrips(server)) - tripsBefore) / paced.requests;
      const saturated = await driveOverhead(server, options.seconds, undefined);
      if (saturated.non2xx > 0 || paced.non2xx > 0)
        throw new Error(`${mode}: ${saturated.non2xx + paced.non2xx} orders not answered 200`);
      round[mode] = {
        ordersPerSecond: saturated.perSecond,
        cpuUsPerOrder,
        postgresCpuUsPerOrder,
        roundTripsPerOrder,
        ...light,
      };
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      const r = round[mode];
      if (r) {
        progress(
          `  ${mode}: ${r.ordersPerSecond.toFixed(0)} orders/s, main thread ${r.cpuUsPerOrder.toFixed(0)} µs/order, Postgres ${r.postgresCpuUsPerOrder.toFixed(0)} µs/order, ` +
            `${r.roundTripsPerOrder.toFixed(2)} round trips/order, light p50 ${r.lightP50.toFixed(1)} ms (load average ${loadAverage().join(' ')})`,
        );
      }
    }
  }
  return round;
});

await database.stop();

type Figure = keyof RoundFigures;
const across = (mode: Mode, figure: Figure) => spreadOf(rounds.map((round) => round[mode][figure]));
const ratio = (figure: Figure) =>
  formatRatio(spreadOf(pairRatios(across('postgres', figure).values, across('memory', figure).values)));
const difference = (figure: Figure) =>
  formatSpread(spreadOf(rounds.map((round) => round.postgres[figure] - round.memory[figure])));
const row = (label: string, mode: Mode) => ({
  '': label,
  'overhead orders/s': formatSpread(across(mode, 'ordersPerSecond')),
  'main-thread CPU µs/order': formatSpread(across(mode, 'cpuUsPerOrder')),
  'Postgres CPU µs/order': formatSpread(across(mode, 'postgresCpuUsPerOrder')),
  'round trips/order': formatSpread(across(mode, 'roundTripsPerOrder')),
  'light p50 ms': formatSpread(across(mode, 'lightP50')),
  'light p90 ms': formatSpread(across(mode, 'lightP90')),
});
console.log(
  `median (min–max) of ${options.rounds} rounds; Postgres ÷ memory and Postgres − memory taken within each round`,
);
console.table([
  row('in memory', 'memory'),
  row('Postgres', 'postgres'),
  {
    '': 'Postgres ÷ memory',
    'overhead orders/s': ratio('ordersPerSecond'),
    'main-thread CPU µs/order': ratio('cpuUsPerOrder'),
    'Postgres CPU µs/order': '',
    'round trips/order': '',
    'light p50 ms': `${difference('lightP50')} ms more`,
    'light p90 ms': `${difference('lightP90')} ms more`,
  },
]);
