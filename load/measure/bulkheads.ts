/**
 * The bulkheads (issue 20), measured: what a greedy client (acme) does to
 * another's orders (globex) with the bulkheads on — the defaults — and off
 * (CLIENT_MAX_SHARE=1, CLIENT_RATE_LIMIT=0), in the same run, on servers as
 * `npm start` runs them; and what the checks cost the main thread per order.
 *
 * Scenarios (load/lib/client-scenarios.ts, as the tests drive them):
 * - couriers: 10 connections of 60 s courier steps; the victim's ordinary orders on 2;
 * - cpu: 4 connections of cpu_ms 10000; the victim's 20 ms orders on 1, alone first;
 * - flood: 400 orders/s of 1 ms orders, more than two threads answer; the victim's ordinary orders on 1
 *   (on: CLIENT_RATE_LIMIT=100, the default with keys);
 * - in flight: MAX_INFLIGHT=20, 20 connections of 1.5 s orders; the victim's 1 ms orders on 2;
 * - records: ORDER_RECORDS_MAX_MB=1, 1 ms orders until the greedy client is shed; then the victim's 20.
 * Each scenario but the flood runs without a rate limit (CLIENT_RATE_LIMIT=0) both ways: it measures its own bulkhead.
 * Cost: two clients sharing the `overhead` scenario's orders at a fixed rate, the main thread's CPU per
 * order read from /proc, with (the caps, a rate limit that is never reached) and without, alternating;
 * and the checks alone, in this process.
 *
 *   npm run measure:bulkheads
 *   npm run measure:bulkheads -- --rounds 3 --only cost
 */
import autocannon from 'autocannon';
import { pino } from 'pino';
import { ClientBook } from '../../src/clients/client-book.js';
import { ClientShares } from '../../src/orders/client-shares.js';
import { MemoryOrderRecords } from '../../src/orders/memory-order-records.js';
import { ClientRateLimits } from '../../src/http/client-rate-limits.js';
import {
  courierHog,
  cpuHog,
  freshOrder,
  keepSending,
  sendAtRate,
  sendOrder,
  victimFigures,
  type Sender,
  type VictimFigures,
} from '../lib/client-scenarios.js';
import { parseCommandLine } from '../lib/command-line.js';
import {
  formatFigure,
  formatRatio,
  formatSpread,
  inRounds,
  pairRatios,
  progress,
  roundsOption,
  spreadOf,
} from '../lib/rounds.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { mainThreadCpuSeconds, overhead } from './overhead-orders.js';
import { serverLog } from './server-logs.js';

const SCENARIOS = ['couriers', 'cpu', 'flood', 'inflight', 'records', 'cost'] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure:bulkheads --',
    summary:
      "What a greedy client does to another's orders with the bulkheads on and off, in the same run, and what the checks cost per order.",
    notes: [`scenarios: ${SCENARIOS.join(', ')}`],
  },
  {
    rounds: roundsOption(3),
    only: { type: 'strings', placeholder: 'SCENARIO', help: 'run only these scenarios (repeat the option)' },
    seconds: { type: 'integer', default: 4, help: 'seconds of each phase of the cost: warm-up, fixed rate' },
    rate: { type: 'integer', default: 600, help: 'orders/s of the cost’s fixed-rate phase (both clients together)' },
    orders: { type: 'integer', default: 1_000_000, help: 'orders through the checks alone, per round' },
  },
);
const chosen = (scenario: Scenario): boolean => options.only.length === 0 || options.only.includes(scenario);

const ACME = 'acme_key_0123456789abcdefghijklmnopqrstuv';
const GLOBEX = 'globex-key-0123456789ABCDEFGHIJKLMNOPQRS';
const KEYED = {
  API_KEYS: `acme:${ACME},globex:${GLOBEX}`,
  ADMIN_KEY: 'admin_key_ZYXWVUTSRQPONMLKJIHGFEDCBA0123',
  THREADS: '2',
};
const MODES = { on: {}, off: { CLIENT_MAX_SHARE: '1', CLIENT_RATE_LIMIT: '0' } } as const;
type Mode = keyof typeof MODES;

async function withServer<T>(
  name: string,
  env: Record<string, string>,
  run: (acme: Sender, globex: Sender, server: ServerProcess) => Promise<T>,
): Promise<T> {
  const server = await startServerProcess({ ...KEYED, ...env }, { logFile: serverLog(name) });
  try {
    return await run({ url: server.url, key: ACME }, { url: server.url, key: GLOBEX }, server);
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

const describe = (figures: VictimFigures): string =>
  `${(figures.ok * 100).toFixed(1)}% of ${figures.orders} ok, median ${formatFigure(figures.medianMs)} ms, p99 ${formatFigure(figures.p99Ms)} ms` +
  (Object.keys(figures.others).length
    ? ` (${Object.entries(figures.others)
        .map(([status, count]) => `${count} × ${status}`)
        .join(', ')})`
    : '');

const victimRows: Array<{ scenario: string; mode: Mode; victim: string }> = [];

async function scenarios(): Promise<void> {
  for (const mode of ['off', 'on'] as const) {
    const env = { ...MODES[mode], CLIENT_RATE_LIMIT: '0' };
    if (chosen('couriers')) {
      const { victim } = await withServer(`couriers-${mode}`, env, (acme, globex) =>
        courierHog(acme, globex, { seconds: 8 }),
      );
      victimRows.push({
        scenario: 'couriers: 10 connections of 60 s courier steps; victim: default orders on 2',
        mode,
        victim: describe(victim),
      });
      progress(`  couriers, bulkheads ${mode}: ${describe(victim)}`);
    }
    if (chosen('cpu')) {
      const { alone, withHog } = await withServer(`cpu-${mode}`, env, (acme, globex) =>
        cpuHog(acme, globex, { seconds: 5 }),
      );
      const line = `alone median ${formatFigure(alone.medianMs)} ms; beside the hog ${describe(withHog)}: ${(withHog.medianMs / alone.medianMs).toFixed(2)}× its median alone`;
      victimRows.push({
        scenario: 'cpu: 4 connections of cpu_ms 10000; victim: 20 ms orders on 1',
        mode,
        victim: line,
      });
      progress(`  cpu, bulkheads ${mode}: ${line}`);
    }
    if (chosen('flood')) {
      const rate = { CLIENT_RATE_LIMIT: mode === 'on' ? '100' : '0' };
      const { victim, refused } = await withServer(`flood-${mode}`, { ...env, ...rate }, async (acme, globex) => {
        const until = performance.now() + 8000;
        const flood = sendAtRate(acme, 400, until, () =>
          freshOrder({ delay_ms: { payment: 1, vendor: 1, courier: 1 } }),
        );
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const victims = await keepSending(globex, 1, until, () => freshOrder());
        const floodAnswers = await flood;
        return {
          victim: victimFigures(victims),
          refused: floodAnswers.filter((answer) => answer.status === 429).length / floodAnswers.length,
        };
      });
      const line = `${describe(victim)}; ${(refused * 100).toFixed(0)}% of the flood refused 429`;
      victimRows.push({
        scenario: 'flood: 400 orders/s of 1 ms orders (on: CLIENT_RATE_LIMIT=100); victim: default orders on 1',
        mode,
        victim: line,
      });
      progress(`  flood, bulkheads ${mode}: ${line}`);
    }
    if (chosen('inflight')) {
      const victim = await withServer(`inflight-${mode}`, { ...env, MAX_INFLIGHT: '20' }, async (acme, globex) => {
        const until = performance.now() + 4000;
        const hog = keepSending(acme, 20, until, () =>
          freshOrder({ delay_ms: { payment: 1500, vendor: 1, courier: 1 } }),
        );
        await new Promise((resolve) => setTimeout(resolve, 500));
        const victims = await keepSending(globex, 2, until, () =>
          freshOrder({ delay_ms: { payment: 1, vendor: 1, courier: 1 } }),
        );
        await hog;
        return victimFigures(victims);
      });
      victimRows.push({
        scenario: 'in flight: MAX_INFLIGHT=20, 20 connections of 1.5 s orders; victim: 1 ms orders on 2',
        mode,
        victim: describe(victim),
      });
      progress(`  in flight, bulkheads ${mode}: ${describe(victim)}`);
    }
    if (chosen('records')) {
      const victim = await withServer(
        `records-${mode}`,
        { ...env, ORDER_RECORDS_MAX_MB: '1' },
        async (acme, globex) => {
          for (let sent = 0; sent < 20_000; sent += 50) {
            const batch = await Promise.all(
              Array.from({ length: 50 }, () =>
                sendOrder(acme, freshOrder({ delay_ms: { payment: 1, vendor: 1, courier: 1 } })),
              ),
            );
            if (batch.some((answer) => answer.status === 503)) break;
          }
          return victimFigures(
            await Promise.all(
              Array.from({ length: 20 }, () =>
                sendOrder(globex, freshOrder({ delay_ms: { payment: 1, vendor: 1, courier: 1 } })),
              ),
            ),
          );
        },
      );
      victimRows.push({
        scenario: 'records: ORDER_RECORDS_MAX_MB=1 filled by 1 ms orders; then the victim’s 20',
        mode,
        victim: describe(victim),
      });
      progress(`  records, bulkheads ${mode}: ${describe(victim)}`);
    }
  }
}

/**
 * The checks an order goes through, alone: its client's share, counted and let go, and its rate limit (in memory, never
 * reached).
 */
async function checksAlone(orders: number): Promise<number> {
  const clients = new ClientBook({ weights: new Map(), configured: ['acme', 'globex'], indices: 256, maxShare: 0.6 });
  const records = new MemoryOrderRecords(600_000, 64 * 2 ** 20);
  const shares = new ClientShares({ maxInflight: 10_000, recordsMaxBytes: 64 * 2 ** 20, records, clients });
  const limits = new ClientRateLimits(() => 1_000_000_000, 'memory', pino({ level: 'silent' }));
  const started = process.cpuUsage();
  for (let i = 0; i < orders; i++) {
    const client = i & 1 ? 'acme' : 'globex';
    await limits.take(client);
    if (shares.fullFor(client)) throw new Error('a share filled up');
    const admission = shares.counted(client, 'admitted');
    if (typeof admission === 'object' && 'admitted' in admission) admission.ended(undefined);
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / orders;
}

/** Both clients' orders at `rate` in all, alternating. */
async function driveBoth(server: ServerProcess, seconds: number, rate: number): Promise<number> {
  let n = 0;
  const result = await autocannon({
    url: new URL('/order', server.url).href,
    connections: overhead.connections,
    duration: seconds,
    overallRate: rate,
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => ({
          ...request,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${++n % 2 ? ACME : GLOBEX}` },
          body: JSON.stringify(freshOrder({ delay_ms: { payment: 1, vendor: 1, courier: 1 } })),
        }),
      },
    ],
  });
  if (result.non2xx > 0)
    throw new Error(`${result.non2xx} orders were not answered 200: the load is too high for this machine`);
  return result.requests.total;
}

async function cost(): Promise<void> {
  const COST_MODES = { with: { CLIENT_RATE_LIMIT: '1000000' }, without: MODES.off } as const;
  const rounds = await inRounds(options.rounds, async () => {
    const alone = await checksAlone(options.orders);
    progress(`  checks alone: ${alone.toFixed(3)} µs/order`);
    const perOrder = {} as Record<keyof typeof COST_MODES, number>;
    for (const [mode, env] of Object.entries(COST_MODES) as Array<[keyof typeof COST_MODES, Record<string, string>]>) {
      perOrder[mode] = await withServer(
        `cost-${mode}`,
        { ...overhead.serverEnv, ...env },
        async (_acme, _globex, server) => {
          await driveBoth(server, options.seconds, 300); // warm-up
          const cpuBefore = mainThreadCpuSeconds(server);
          const answered = await driveBoth(server, options.seconds, options.rate);
          return ((mainThreadCpuSeconds(server) - cpuBefore) / answered) * 1e6;
        },
      );
      progress(`  ${mode} the bulkheads: ${perOrder[mode].toFixed(0)} µs/order of main-thread CPU`);
    }
    return { alone, ...perOrder };
  });
  const across = (key: 'alone' | 'with' | 'without') => spreadOf(rounds.map((round) => round[key]));
  console.log(`\ncost per order: median (min–max) of ${options.rounds} rounds`);
  console.table([
    {
      figure: 'the checks alone (rate limit in memory, shares, counted and let go), µs per order',
      value: formatSpread(across('alone'), (value) => value.toFixed(3)),
    },
    { figure: 'main-thread CPU per order with the bulkheads, µs', value: formatSpread(across('with')) },
    {
      figure: 'main-thread CPU per order without (CLIENT_MAX_SHARE=1, CLIENT_RATE_LIMIT=0), µs',
      value: formatSpread(across('without')),
    },
    {
      figure: 'with − without, round by round, µs',
      value: formatSpread(spreadOf(rounds.map((round) => round.with - round.without))),
    },
    {
      figure: 'with ÷ without, round by round',
      value: formatRatio(spreadOf(pairRatios(across('with').values, across('without').values))),
    },
  ]);
}

await scenarios();
if (victimRows.length > 0) {
  console.log('\nthe victim (globex) beside the greedy client (acme), bulkheads off and on, in this run');
  console.table(victimRows);
}
if (chosen('cost')) await cost();
