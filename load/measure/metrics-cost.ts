/**
 * What scraping /metrics costs the orders. Orders whose steps do nothing
 * (delay_ms all 0), sent one at a time, are timed three ways: with nobody
 * else on the server; while 8 clients scrape /metrics as fast as they can;
 * and while 8 clients poll /healthz as fast as they can — what any 8 busy
 * clients cost, the floor a scrape can be brought down to. Conditions
 * alternate within each round; the figures are medians over rounds, with
 * their spread. The clients run on a thread of their own, so the orders'
 * client is not slowed by them.
 *
 *   npm run measure:metrics
 *   METRICS_COST_TARGETS=before=http://127.0.0.1:8081,after=http://127.0.0.1:8082 npm run measure:metrics
 *
 * The second form compares servers already running (say, two builds), round
 * by round, so that both see the same machine.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { percentile } from '../lib/stats.js';
import { serverLog } from './server-logs.js';

const ROUNDS = Number(process.env['ROUNDS'] ?? 5);
const ORDERS = Number(process.env['ORDERS'] ?? 150);
const BUSY_CLIENTS = 8;
const CONDITIONS = ['alone', '8 × /healthz', '8 × /metrics'] as const;
type Condition = (typeof CONDITIONS)[number];

interface BusyClients {
  readonly url: string;
  readonly clients: number;
}

/** On the clients' thread: fetch the URL in a loop from each client until told to stop, then report how many. */
async function beBusy({ url, clients }: BusyClients): Promise<void> {
  let stop = false;
  let requests = 0;
  parentPort!.once('message', () => (stop = true));
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!stop) {
        await (await fetch(url)).arrayBuffer();
        requests++;
      }
    }),
  );
  parentPort!.postMessage(requests);
}

const runTag = Date.now().toString(36);
let sent = 0;

/** p50 and p90 of ORDERS orders sent one after another, and what the busy clients managed meanwhile. */
async function timeOrders(
  base: URL,
  busyPath: string | undefined,
): Promise<{ p50: number; p90: number; busyPerSecond: number }> {
  const busy = busyPath
    ? new Worker(new URL(import.meta.url), {
        workerData: { url: new URL(busyPath, base).href, clients: BUSY_CLIENTS } satisfies BusyClients,
      })
    : undefined;
  const counted = busy ? new Promise<number>((resolve) => busy.once('message', resolve)) : Promise.resolve(0);
  if (busy) await new Promise((resolve) => setTimeout(resolve, 300));
  const started = performance.now();
  const latencies: number[] = [];
  for (let i = 0; i < ORDERS; i++) {
    const before = performance.now();
    const response = await fetch(new URL('/order', base), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        order_id: `metrics-cost-${runTag}-${sent++}`,
        amount: 1,
        delay_ms: { payment: 0, vendor: 0, courier: 0 },
      }),
    });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`order answered ${response.status}`);
    latencies.push(performance.now() - before);
  }
  const seconds = (performance.now() - started) / 1000;
  busy?.postMessage('stop');
  const busyRequests = await counted;
  await busy?.terminate();
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p90: percentile(latencies, 90), busyPerSecond: busyRequests / seconds };
}

const BUSY_PATH: Record<Condition, string | undefined> = {
  alone: undefined,
  '8 × /healthz': '/healthz',
  '8 × /metrics': '/metrics',
};

async function main(): Promise<void> {
  const given = process.env['METRICS_COST_TARGETS'];
  let started: ServerProcess | undefined;
  const targets: Array<[string, URL]> = given
    ? given.split(',').map((pair) => {
        const [name, url] = pair.split('=');
        return [name!, new URL(url!)];
      })
    : [
        [
          'this build',
          (started = await startServerProcess({ THREADS: '2' }, { logFile: serverLog('this-build') })).url,
        ],
      ];
  type Figures = { p50: number[]; p90: number[]; busy: number[] };
  const figures = new Map<string, Figures>();
  try {
    for (const [, url] of targets) await timeOrders(url, undefined); // warm-up
    for (let round = 1; round <= ROUNDS; round++) {
      // Rotate the order of conditions, so none always runs first or last in a round.
      const order = CONDITIONS.map((_, i) => CONDITIONS[(i + round) % CONDITIONS.length]!);
      for (const condition of order) {
        for (const [name, url] of targets) {
          const { p50, p90, busyPerSecond } = await timeOrders(url, BUSY_PATH[condition]);
          const key = `${name}|${condition}`;
          const entry = figures.get(key) ?? { p50: [], p90: [], busy: [] };
          entry.p50.push(p50);
          entry.p90.push(p90);
          entry.busy.push(busyPerSecond);
          figures.set(key, entry);
          process.stderr.write(
            `round ${round} ${name}, ${condition}: p50 ${p50.toFixed(2)} ms, p90 ${p90.toFixed(2)} ms${busyPerSecond ? `, ${busyPerSecond.toFixed(0)} busy requests/s` : ''}\n`,
          );
        }
      }
    }
  } finally {
    started?.child.kill('SIGTERM');
    await started?.exited;
  }
  const median = (values: number[]): number =>
    percentile(
      [...values].sort((a, b) => a - b),
      50,
    );
  const spread = (values: number[]): string => `${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)}`;
  console.table(
    [...figures].map(([key, { p50, p90, busy }]) => {
      const [target, condition] = key.split('|');
      return {
        target,
        condition,
        'order p50 ms (median)': Number(median(p50).toFixed(2)),
        'p50 spread': spread(p50),
        'order p90 ms (median)': Number(median(p90).toFixed(2)),
        'p90 spread': spread(p90),
        'busy requests/s': Math.round(median(busy)),
      };
    }),
  );
  console.log(`${ROUNDS} rounds of ${ORDERS} orders per condition`);
}

if (isMainThread) await main();
else await beBusy(workerData as BusyClients);
