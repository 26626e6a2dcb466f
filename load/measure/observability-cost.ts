/**
 * What metrics and logging cost: the `overhead` scenario's orders against a
 * server with them on (LOG_LEVEL=info, METRICS=on: the defaults) and off
 * (LOG_LEVEL=silent, METRICS=off), alternating, several rounds. Every order
 * has an id of its own: order_id is the idempotency key, and repeated ids
 * would measure replays, not orders.
 *
 * Two figures each: the main thread's CPU time per order at a fixed rate —
 * steady on a shared machine, and the main thread is what limits throughput
 * — and the saturated throughput itself, which swings ±20% from run to run
 * here. On ÷ off is taken within each round.
 *
 *   npm run measure:observability
 *   npm run measure:observability -- --rounds 5 --seconds 6
 */
import { driveOverhead, mainThreadCpuSeconds, overhead } from './overhead-orders.js';
import { parseCommandLine } from '../lib/command-line.js';
import { formatRatio, formatSpread, inRounds, pairRatios, progress, roundsOption, spreadOf } from '../lib/rounds.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { serverLog } from './server-logs.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure:observability --',
    summary: [
      "What metrics and logging cost: the overhead scenario's orders against a server with them on (the defaults)",
      'and off (LOG_LEVEL=silent METRICS=off), alternating: main-thread CPU per order at a fixed rate, and saturated orders/s.',
    ].join('\n'),
  },
  {
    rounds: roundsOption(3),
    seconds: { type: 'integer', default: 4, help: 'seconds of each phase: warm-up, fixed rate, saturated' },
    rate: { type: 'integer', default: 600, help: 'orders/s of the fixed-rate phase' },
  },
);
const RATE = options.rate;
const SECONDS = options.seconds;
const MODES = {
  on: {},
  off: { LOG_LEVEL: 'silent', METRICS: 'off' },
} as const;

const load = (server: ServerProcess, rate: number | undefined) => driveOverhead(server, SECONDS, rate);

type Mode = keyof typeof MODES;
const rounds = await inRounds(options.rounds, async () => {
  const round = {} as Record<Mode, { cpuUsPerOrder: number; ordersPerSecond: number }>;
  for (const [mode, env] of Object.entries(MODES) as Array<[Mode, Record<string, string>]>) {
    const server = await startServerProcess(
      { ...overhead.serverEnv, ...env },
      { logFile: serverLog(`logging-${mode}`) },
    );
    try {
      await load(server, 300); // warm-up
      const cpuBefore = mainThreadCpuSeconds(server);
      const paced = await load(server, RATE);
      const cpuUsPerOrder = ((mainThreadCpuSeconds(server) - cpuBefore) / paced.requests) * 1e6;
      round[mode] = { cpuUsPerOrder, ordersPerSecond: (await load(server, undefined)).perSecond };
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    progress(
      `  ${mode}: ${round[mode].cpuUsPerOrder.toFixed(0)} µs/order, ${round[mode].ordersPerSecond.toFixed(0)} orders/s`,
    );
  }
  return round;
});

const across = (mode: Mode, key: 'cpuUsPerOrder' | 'ordersPerSecond') =>
  spreadOf(rounds.map((round) => round[mode][key]));
const ratio = (key: 'cpuUsPerOrder' | 'ordersPerSecond') =>
  formatRatio(spreadOf(pairRatios(across('on', key).values, across('off', key).values)));
console.log(`median (min–max) of ${options.rounds} rounds; on ÷ off taken within each round`);
console.table([
  {
    'metrics and logging': 'on (defaults)',
    'main-thread CPU per order (µs)': formatSpread(across('on', 'cpuUsPerOrder')),
    'saturated orders/s': formatSpread(across('on', 'ordersPerSecond')),
  },
  {
    'metrics and logging': 'off',
    'main-thread CPU per order (µs)': formatSpread(across('off', 'cpuUsPerOrder')),
    'saturated orders/s': formatSpread(across('off', 'ordersPerSecond')),
  },
  {
    'metrics and logging': 'on ÷ off, round by round',
    'main-thread CPU per order (µs)': ratio('cpuUsPerOrder'),
    'saturated orders/s': ratio('ordersPerSecond'),
  },
]);
