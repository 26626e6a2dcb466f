/**
 * How fast is an order sent with `Prefer: respond-async` accepted while the `overhead` scenario's load runs?
 * Kept in: docs/decisions/accepted-now-answered-later.md
 *
 * The `overhead` scenario's load (50 connections, steps of 1 ms, as fast as they are answered) against one server,
 * and beside it a probe from a process of its own (load/lib/accept-probe-process.ts): orders sent with
 * `Prefer: respond-async` at a steady rate, in an open loop. The generator runs niced (`--generator-nice`), as if
 * on another machine, the server and the probe at the usual priority. Reported per round:
 * the probe's 202 p50/p99, beside two baselines of the same round — its own GET /healthz's p99 (what any request
 * waits for the server's event loop) and the load's p99 (its 200s) — and the load's orders/s. Each
 * probe order is a fresh `order_id` whose steps then run like the load's; every answer must be 202 with a Location.
 *
 *   npm run measure -- accept-latency
 *   npm run measure -- accept-latency --rounds 5 --seconds 10 --probe-rate 100
 */
import { fork } from 'node:child_process';
import { setPriority } from 'node:os';
import { once } from 'node:events';
import { compiledModule, pathOf } from '../../src/paths.js';
import type { AcceptProbe, AcceptTimes } from '../lib/accept-probe-process.js';
import { driveOverhead, overhead } from './overhead-orders.js';
import { parseCommandLine } from '../lib/command-line.js';
import { formatRatio, formatSpread, inRounds, pairRatios, progress, roundsOption, spreadOf } from '../lib/rounds.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { summarize } from '../lib/stats.js';
import { serverLog } from './server-logs.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- accept-latency',
    summary: [
      "A Prefer: respond-async order's 202 under the overhead scenario's load: its p50/p99 against the load's own p99",
      '(its 200s, in the same round), over several rounds.',
    ].join('\n'),
    notes: ['With DATABASE_URL set, the server is durable on that Postgres (npm run -s db starts one).'],
  },
  {
    rounds: roundsOption(3),
    seconds: {
      type: 'integer',
      default: 10,
      min: 2,
      help: 'seconds of load measured in each round (after 3 of warm-up)',
    },
    'probe-rate': {
      type: 'integer',
      default: 50,
      min: 1,
      help: 'respond-async orders per second sent beside the load',
    },
    rate: { type: 'integer', default: 0, min: 0, help: "the load's orders/s; 0: as fast as they are answered" },
    'generator-nice': {
      type: 'integer',
      default: 10,
      min: 0,
      max: 19,
      help: "the load generator's niceness (the server and the probe keep 0); 0: all at one priority",
    },
  },
);

const RUN = Date.now().toString(36);
let probes = 0;

/** Respond-async orders and health checks at `perSecond` each for `seconds`, from a process of their own. */
async function probe(server: ServerProcess, seconds: number, perSecond: number): Promise<AcceptTimes> {
  const orders: AcceptProbe = {
    url: server.url.href,
    seconds,
    perSecond,
    prefix: `${RUN}-async-${probes++}`,
    fields: overhead.order(0),
  };
  const child = fork(pathOf(compiledModule('load/lib/accept-probe-process')), [JSON.stringify(orders)], {
    stdio: 'inherit',
    execArgv: [],
  });
  setPriority(child.pid!, 0);
  const exited = once(child, 'exit');
  const [took] = (await once(child, 'message')) as [AcceptTimes];
  await exited;
  return took;
}

interface Round {
  readonly acceptP50: number;
  readonly acceptP99: number;
  readonly healthP99: number;
  readonly loadP99: number;
  readonly loadPerSecond: number;
}

const databaseUrl = process.env['DATABASE_URL'];
// The load generator (autocannon, in this process) shares the two cores with the server and the probe; run elsewhere,
// as a load test's generator is, it would take none of their CPU. At one priority its share of the cores set the
// probe's p99 (29 ms against 16 with it niced) while the server answered no more orders. Its children — the server and
// the probe — are put back at 0 as they start (lowering a process's niceness needs root, which these machines are).
setPriority(options['generator-nice']);
const rate = options.rate || undefined;
const rounds = await inRounds(options.rounds, async (index): Promise<Round> => {
  const server = await startServerProcess(
    { ...overhead.serverEnv, LOG_LEVEL: 'warn', ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) },
    { logFile: serverLog(`accept-latency-${index}`) },
  );
  setPriority(server.child.pid!, 0);
  try {
    await Promise.all([driveOverhead(server, 3, rate), probe(server, 3, options['probe-rate'])]);
    const [load, times] = await Promise.all([
      driveOverhead(server, options.seconds, rate),
      probe(server, options.seconds, options['probe-rate']),
    ]);
    if (load.non2xx > 0) throw new Error(`the load had ${load.non2xx} answers other than 2xx`);
    const accepted = summarize(times.accepted);
    const round = {
      acceptP50: accepted.p50,
      acceptP99: accepted.p99,
      healthP99: summarize(times.health).p99,
      loadP99: load.p99Ms,
      loadPerSecond: load.perSecond,
    };
    progress(
      `  202 p50 ${round.acceptP50.toFixed(1)} ms p99 ${round.acceptP99.toFixed(1)} ms (${times.accepted.length}); ` +
        `/healthz p99 ${round.healthP99.toFixed(1)} ms; the load ${Math.round(round.loadPerSecond)} orders/s, ` +
        `p99 ${round.loadP99} ms`,
    );
    return round;
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
});

const of = (figure: keyof Round) => spreadOf(rounds.map((round) => round[figure]));
const ratio = (a: keyof Round, b: keyof Round) => formatRatio(spreadOf(pairRatios(of(a).values, of(b).values)));
console.log(
  `${databaseUrl ? 'durable' : 'in memory'}, the load ${rate ? `at ${rate} orders/s` : 'as fast as it is answered'}; ` +
    `${options.rounds} rounds of ${options.seconds} s; the generator at nice ${options['generator-nice']}; median (min–max)`,
);
console.log(`respond-async 202   p50 ${formatSpread(of('acceptP50'))} ms   p99 ${formatSpread(of('acceptP99'))} ms`);
console.log(`GET /healthz        p99 ${formatSpread(of('healthP99'))} ms`);
console.log(
  `the load's 200s     p99 ${formatSpread(of('loadP99'))} ms   ${formatSpread(of('loadPerSecond'))} orders/s`,
);
console.log(
  `202 p99 ÷ /healthz p99: ${ratio('acceptP99', 'healthP99')}   ÷ the load's p99: ${ratio('acceptP99', 'loadP99')}`,
);
