/**
 * What knowing who is asking costs the main thread per order.
 *
 * Two figures, each the median of its rounds with their min–max:
 * - the check alone, in this process: a Bearer header turned into its caller
 *   (the key's shape checked, hashed with SHA-256, looked up among
 *   `--clients` keys, compared in constant time), µs per request;
 * - end to end: the `overhead` scenario's orders at a fixed rate against a
 *   server in open mode (no keys) and one with `--clients` API keys, each
 *   order carrying one client's key, alternating; the main thread's CPU per
 *   order read from /proc, keys ÷ open taken within each round.
 *
 *   npm run measure:auth
 *   npm run measure:auth -- --rounds 5 --seconds 6
 */
import { randomBytes } from 'node:crypto';
import { KeyRing } from '../../src/auth/key-ring.js';
import { keyOf } from '../../src/http/authorization.js';
import { parseCommandLine } from '../lib/command-line.js';
import { formatRatio, formatSpread, inRounds, pairRatios, progress, roundsOption, spreadOf } from '../lib/rounds.js';
import { startServerProcess } from '../lib/server-process.js';
import { driveOverhead, mainThreadCpuSeconds, overhead } from './overhead-orders.js';
import { serverLog } from './server-logs.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure:auth --',
    summary: [
      'What API keys cost the main thread per order: the check alone, in this process, and the overhead',
      "scenario's orders at a fixed rate against a server in open mode and one with API keys, alternating.",
    ].join('\n'),
  },
  {
    rounds: roundsOption(3),
    seconds: { type: 'integer', default: 4, help: 'seconds of each phase: warm-up, fixed rate' },
    rate: { type: 'integer', default: 600, help: 'orders/s of the fixed-rate phase' },
    clients: { type: 'integer', default: 100, help: 'clients with a key each (API_KEYS)' },
    checks: { type: 'integer', default: 200_000, help: 'headers through the check alone, per round' },
  },
);

const keys = Array.from({ length: options.clients }, (_, i) => ({
  client: `client-${i}`,
  key: randomBytes(24).toString('hex'),
}));
const asked = keys[Math.floor(keys.length / 2)]!;
const authorization = `Bearer ${asked.key}`;

function checkAlone(checks: number): number {
  const ring = new KeyRing({ clients: keys, adminKeys: [] });
  const started = process.cpuUsage();
  for (let i = 0; i < checks; i++) {
    const key = keyOf(authorization);
    if (key === undefined || ring.callerOf(key)?.client !== asked.client) throw new Error('the key was not recognized');
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / checks;
}

const MODES = {
  open: { env: {}, headers: {} },
  keys: { env: { API_KEYS: keys.map(({ client, key }) => `${client}:${key}`).join(',') }, headers: { authorization } },
} as const;
type Mode = keyof typeof MODES;

const rounds = await inRounds(options.rounds, async () => {
  const alone = checkAlone(options.checks);
  progress(`  check alone: ${alone.toFixed(2)} µs/request`);
  const perOrder = {} as Record<Mode, number>;
  for (const [mode, { env, headers }] of Object.entries(MODES) as Array<[Mode, (typeof MODES)[Mode]]>) {
    const server = await startServerProcess(
      { ...overhead.serverEnv, ...env },
      { logFile: serverLog(`auth-${mode}-${Date.now()}`) },
    );
    try {
      await driveOverhead(server, options.seconds, 300, headers); // warm-up
      const cpuBefore = mainThreadCpuSeconds(server);
      const paced = await driveOverhead(server, options.seconds, options.rate, headers);
      if (paced.non2xx > 0) throw new Error(`${mode}: ${paced.non2xx} answers were not 2xx`);
      perOrder[mode] = ((mainThreadCpuSeconds(server) - cpuBefore) / paced.requests) * 1e6;
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    progress(`  ${mode}: ${perOrder[mode].toFixed(0)} µs/order of main-thread CPU`);
  }
  return { alone, ...perOrder };
});

const across = (key: 'alone' | Mode) => spreadOf(rounds.map((round) => round[key]));
console.log(`median (min–max) of ${options.rounds} rounds; ${options.clients} clients with a key each`);
console.table([
  {
    figure: 'the check alone (parse, SHA-256, look up, compare), µs per request',
    value: formatSpread(across('alone'), (value) => value.toFixed(2)),
  },
  { figure: 'main-thread CPU per order, open mode, µs', value: formatSpread(across('open')) },
  { figure: 'main-thread CPU per order with API keys, µs', value: formatSpread(across('keys')) },
  {
    figure: 'keys − open, round by round, µs',
    value: formatSpread(spreadOf(rounds.map((round) => round.keys - round.open))),
  },
  {
    figure: 'keys ÷ open, round by round',
    value: formatRatio(spreadOf(pairRatios(across('keys').values, across('open').values))),
  },
]);
