/**
 * What the dependencies' circuit breakers cost the main thread per order.
 *
 * Two figures, each the median of its rounds with their min–max:
 * - the checks alone, in this process: admitting an order through the
 *   breakers and settling each with its order's outcome, as the service does
 *   for every order (µs per order, over many orders);
 * - end to end: the `overhead` scenario's orders at a fixed rate against a
 *   server with breakers (the default, BREAKER_FAILURES=5) and without
 *   (BREAKER_FAILURES=0), alternating, the main thread's CPU per order read
 *   from /proc; with ÷ without taken within each round.
 *
 *   npm run measure:breakers
 *   npm run measure:breakers -- --rounds 5 --seconds 6
 */
import { STEP_NAMES } from '../../src/domain/steps.js';
import type { OrderResult } from '../../src/pipeline/order-pipeline.js';
import { DependencyBreakers } from '../../src/resilience/dependency-breakers.js';
import { parseCommandLine } from '../lib/command-line.js';
import { formatRatio, formatSpread, inRounds, pairRatios, progress, roundsOption, spreadOf } from '../lib/rounds.js';
import { startServerProcess } from '../lib/server-process.js';
import { driveOverhead, mainThreadCpuSeconds, overhead } from './overhead-orders.js';
import { serverLog } from './server-logs.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure:breakers --',
    summary: [
      "What the dependencies' circuit breakers cost the main thread per order: the checks alone, in this process,",
      "and the overhead scenario's orders at a fixed rate against a server with breakers and without (BREAKER_FAILURES=0), alternating.",
    ].join('\n'),
  },
  {
    rounds: roundsOption(3),
    seconds: { type: 'integer', default: 4, help: 'seconds of each phase: warm-up, fixed rate' },
    rate: { type: 'integer', default: 600, help: 'orders/s of the fixed-rate phase' },
    orders: { type: 'integer', default: 1_000_000, help: 'orders through the checks alone, per round' },
  },
);

/** An order as its steps report it: every dependency answered. */
const answered: OrderResult = {
  orderId: 'o',
  steps: STEP_NAMES.map((name) => ({
    name,
    status: 'ok',
    durationMs: 1,
    threadId: 1,
    attempts: 1,
    dependency: 'answered',
  })),
  compensations: [],
  failure: undefined,
};

function checksAlone(orders: number): number {
  const breakers = new DependencyBreakers({ failures: 5, openMs: 5000 });
  const started = process.cpuUsage();
  for (let i = 0; i < orders; i++) {
    const admission = breakers.admit('measure');
    if ('admitted' in admission) admission.ended(answered);
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / orders;
}

const MODES = { with: {}, without: { BREAKER_FAILURES: '0' } } as const;
type Mode = keyof typeof MODES;

const rounds = await inRounds(options.rounds, async () => {
  const alone = checksAlone(options.orders);
  progress(`  checks alone: ${alone.toFixed(3)} µs/order`);
  const perOrder = {} as Record<Mode, number>;
  for (const [mode, env] of Object.entries(MODES) as Array<[Mode, Record<string, string>]>) {
    const server = await startServerProcess(
      { ...overhead.serverEnv, ...env },
      { logFile: serverLog(`breakers-${Object.keys(env).length === 0 ? 'on' : 'off'}-${Date.now()}`) },
    );
    try {
      await driveOverhead(server, options.seconds, 300); // warm-up
      const cpuBefore = mainThreadCpuSeconds(server);
      const paced = await driveOverhead(server, options.seconds, options.rate);
      perOrder[mode] = ((mainThreadCpuSeconds(server) - cpuBefore) / paced.requests) * 1e6;
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    progress(`  ${mode} breakers: ${perOrder[mode].toFixed(0)} µs/order of main-thread CPU`);
  }
  return { alone, ...perOrder };
});

const across = (key: 'alone' | Mode) => spreadOf(rounds.map((round) => round[key]));
console.log(`median (min–max) of ${options.rounds} rounds`);
console.table([
  {
    figure: 'the checks alone (admit + settle, 3 breakers), µs per order',
    value: formatSpread(across('alone'), (value) => value.toFixed(3)),
  },
  { figure: 'main-thread CPU per order with breakers, µs', value: formatSpread(across('with')) },
  { figure: 'main-thread CPU per order without (BREAKER_FAILURES=0), µs', value: formatSpread(across('without')) },
  {
    figure: 'with − without, round by round, µs',
    value: formatSpread(spreadOf(rounds.map((round) => round.with - round.without))),
  },
  {
    figure: 'with ÷ without, round by round',
    value: formatRatio(spreadOf(pairRatios(across('with').values, across('without').values))),
  },
]);
