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
 * here.
 *
 *   npm run measure:observability
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { SCENARIOS } from './scenarios.js';
import { startServerProcess, type ServerProcess } from './server-process.js';
import { percentile } from './stats.js';

const ROUNDS = Number(process.env['ROUNDS'] ?? 5);
const RATE = 600;
const SECONDS = 6;
const MODES = {
  on: {},
  off: { LOG_LEVEL: 'silent', METRICS: 'off' },
} as const;

const overhead = SCENARIOS.find((scenario) => scenario.name === 'overhead')!;
const runTag = Date.now().toString(36);
let sent = 0;

/** CPU seconds the server's main thread has used (its task is the process's own id). */
function mainThreadCpuSeconds(server: ServerProcess): number {
  const pid = server.child.pid!;
  const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime, fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function load(server: ServerProcess, rate: number | undefined): Promise<{ requests: number; perSecond: number }> {
  const result = await autocannon({
    url: new URL('/order', server.url).href,
    connections: overhead.connections,
    duration: SECONDS,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: JSON.stringify({ ...overhead.order(sent), order_id: `${runTag}-${sent++}` }) }),
      },
    ],
    ...(rate ? { overallRate: rate } : {}),
  });
  return { requests: result.requests.total, perSecond: result.requests.average };
}

const figures: Record<keyof typeof MODES, { cpuUsPerOrder: number[]; ordersPerSecond: number[] }> = {
  on: { cpuUsPerOrder: [], ordersPerSecond: [] },
  off: { cpuUsPerOrder: [], ordersPerSecond: [] },
};
for (let round = 1; round <= ROUNDS; round++) {
  for (const [mode, env] of Object.entries(MODES) as Array<[keyof typeof MODES, Record<string, string>]>) {
    const server = await startServerProcess({ ...overhead.serverEnv, ...env });
    try {
      await load(server, 300); // warm-up
      const cpuBefore = mainThreadCpuSeconds(server);
      const paced = await load(server, RATE);
      figures[mode].cpuUsPerOrder.push(((mainThreadCpuSeconds(server) - cpuBefore) / paced.requests) * 1e6);
      figures[mode].ordersPerSecond.push((await load(server, undefined)).perSecond);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    process.stderr.write(`round ${round} ${mode}: ${figures[mode].cpuUsPerOrder.at(-1)!.toFixed(0)} µs/order, ${figures[mode].ordersPerSecond.at(-1)!.toFixed(0)} orders/s\n`);
  }
}

const median = (values: number[]): number => percentile([...values].sort((a, b) => a - b), 50);
const on = { cpu: median(figures.on.cpuUsPerOrder), rate: median(figures.on.ordersPerSecond) };
const off = { cpu: median(figures.off.cpuUsPerOrder), rate: median(figures.off.ordersPerSecond) };
console.table([
  { 'metrics and logging': 'on (defaults)', 'main-thread CPU per order (µs)': Math.round(on.cpu), 'saturated orders/s': Math.round(on.rate) },
  { 'metrics and logging': 'off', 'main-thread CPU per order (µs)': Math.round(off.cpu), 'saturated orders/s': Math.round(off.rate) },
]);
console.log(
  `cost: ${(((on.cpu - off.cpu) / off.cpu) * 100).toFixed(1)}% more main-thread CPU per order; ` +
    `${(((off.rate - on.rate) / off.rate) * 100).toFixed(1)}% less throughput (medians of ${ROUNDS} rounds)`,
);
