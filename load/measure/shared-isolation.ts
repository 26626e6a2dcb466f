/**
 * Can one client take from another what they all share?
 * Kept in: docs/decisions/shares-and-tiers.md
 *
 * What one client does to another through what they all share,
 * measured on two builds in the same run: a baseline (`--baseline`: another
 * checkout's built dist/src/main.js, main's) and this build, each scenario on
 * a fresh server as `npm start` runs it, alternating builds round by round.
 * The victim is another client's ordinary orders (globex); the attacker
 * (acme) stays within its own key and share.
 *
 * Scenarios (load/lib/client-scenarios.ts, as test/integration/shared-isolation.test.ts and its siblings drive them,
 * shorter):
 * - breaker: the vendor 300 ms slow, no failures; the attacker's 20 orders/s ask a vendor delay of 1,900 ms (deadline
 *   2 s); the victim's 5 orders/s. Also whether the vendor's breaker opened;
 * - probe: BREAKER_OPEN_MS=1000; a vendor outage opens the breaker, then ends while the attacker's 20 orders/s hold
 *   the half-open probe 1.8 s each and end without a verdict; the victim's 5 orders/s from BREAKER_OPEN_MS + 5 s on;
 * - connections: MAX_CONNECTIONS=300; 320 keyless sockets trickling their headers, reopened when closed; the victim's
 *   5 orders/s;
 * - floors: MAX_INFLIGHT=20; three busy keys, each on 12 connections of 1.5 s orders; the victim's 1 ms orders at
 *   10/s;
 * - courier-floors: ORDER_TIMEOUT_MS=5000; three busy keys, each on 4 connections of 3 s courier steps; after 3.5 s,
 *   the victim's 1 ms orders at 10/s;
 * - cpu-floors: THREADS=4, ORDER_TIMEOUT_MS=5000, no idle key; three busy keys, each on 3 connections computing 3 s;
 *   after 3.5 s, the victim's orders computing 5 ms, at 10/s;
 * - couriers-across: INSTANCES=2 on a throwaway Postgres, COURIERS=5; the victim's ordinary orders at 5/s alone, then
 *   beside a client holding couriers 1.9 s from 20 connections (each build on a fresh database);
 * - shutdown: the server behind `| head -1`, 3 orders (their lines still gathered), then SIGTERM: how
 *   long until it exits (10 s at most).
 *
 *   npm run build && (cd ../main && npm ci && npm run build)
 *   npm run measure -- shared-isolation --baseline ../main/dist/src/main.js
 */
import { resolve } from 'node:path';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { startThrowawayServer } from '../../scripts/postgres/throwaway.js';
import {
  busyKeys,
  couriersAcrossInstances,
  freshOrder,
  probeHold,
  sendOrder,
  slowVendorDeadlines,
  tricklingSockets,
  type Sender,
  type VictimFigures,
} from '../lib/client-scenarios.js';
import { parseCommandLine } from '../lib/command-line.js';
import { formatFigure, progress } from '../lib/rounds.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { serverLog } from './server-logs.js';

const SCENARIOS = [
  'shutdown',
  'breaker',
  'probe',
  'connections',
  'floors',
  'courier-floors',
  'cpu-floors',
  'couriers-across',
] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- shared-isolation',
    summary: "What one client does to another's orders through what they share, on a baseline build and this one.",
    notes: [`scenarios: ${SCENARIOS.join(', ')}`],
  },
  {
    baseline: { type: 'string', default: '', help: "the baseline build's dist/src/main.js (main's)" },
    rounds: { type: 'integer', default: 1, help: 'rounds of every scenario on each build' },
    only: { type: 'strings', placeholder: 'SCENARIO', help: 'run only these scenarios (repeat the option)' },
    seconds: { type: 'integer', default: 6, help: "seconds of the victim's orders in each scenario" },
  },
);
const chosen = (scenario: Scenario): boolean => options.only.length === 0 || options.only.includes(scenario);

const ACME = 'acme_key_0123456789abcdefghijklmnopqrstuv';
const GLOBEX = 'globex-key-0123456789ABCDEFGHIJKLMNOPQRS';
const ADMIN = 'admin_key_ZYXWVUTSRQPONMLKJIHGFEDCBA0123';
const BUSY = ['initech', 'umbrella', 'hooli'].map((client) => ({ client, key: `${client}_key_`.padEnd(40, 'x') }));
const KEYED = {
  API_KEYS: [`acme:${ACME}`, `globex:${GLOBEX}`, ...BUSY.map(({ client, key }) => `${client}:${key}`)].join(','),
  ADMIN_KEY: ADMIN,
  THREADS: '2',
  CLIENT_RATE_LIMIT: '0',
  FAULT_INJECTION: 'off',
};

/** A throwaway Postgres for couriers-across, started once it is needed; a fresh database for each server on it. */
let postgres: Awaited<ReturnType<typeof startThrowawayServer>> | undefined;
let databases = 0;
async function freshDatabaseUrl(): Promise<string> {
  postgres ??= await startThrowawayServer();
  const admin = new pg.Client({ connectionString: postgres.url() });
  await admin.connect();
  const name = `isolation_${process.pid}_${++databases}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return postgres.url(name);
}

const BUILDS = { baseline: options.baseline ? resolve(options.baseline) : '', branch: '' } as const;
type Build = keyof typeof BUILDS;

async function withServer<T>(
  name: string,
  build: Build,
  env: Record<string, string>,
  run: (acme: Sender, globex: Sender, admin: Sender, server: ServerProcess) => Promise<T>,
): Promise<T> {
  const server = await startServerProcess(
    { ...KEYED, ...env },
    { logFile: serverLog(`${name}-${build}`), ...(BUILDS[build] ? { main: BUILDS[build] } : {}) },
  );
  try {
    return await run(
      { url: server.url, key: ACME },
      { url: server.url, key: GLOBEX },
      { url: server.url, key: ADMIN },
      server,
    );
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

const described = (figures: VictimFigures): string =>
  `${figures.orders - Math.round(figures.orders * (1 - figures.ok))} of ${figures.orders} ok (${(figures.ok * 100).toFixed(1)}%), median ${formatFigure(figures.medianMs)} ms, p99 ${formatFigure(figures.p99Ms)} ms` +
  (Object.keys(figures.others).length
    ? ` (${Object.entries(figures.others)
        .map(([status, count]) => `${count} × ${status}`)
        .join(', ')})`
    : '');

const rows: Array<{ scenario: Scenario; build: Build; round: number; victim: string }> = [];

/** The server behind `| head -1`, 3 orders, then SIGTERM: milliseconds until it exits, or undefined past 10 s. */
async function shutdownBehindHead(build: Build): Promise<number | undefined> {
  const main = BUILDS[build] || resolve(import.meta.dirname, '../../src/main.js');
  const pipeline = spawn('sh', ['-c', '"$0" "$1" | head -1', process.execPath, main], {
    env: { ...process.env, PORT: '0', THREADS: '2', LOG_LEVEL: 'info', LOG_BUFFER: 'on' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let first = '';
  pipeline.stdout.setEncoding('utf8').on('data', (chunk: string) => (first += chunk));
  while (!first.includes('\n')) await new Promise((resolve) => setTimeout(resolve, 50));
  const { pid, msg } = JSON.parse(first) as { pid: number; msg: string };
  const url = new URL(/listening on (\S+)/.exec(msg)![1]!);
  for (let i = 0; i < 200; i++)
    await sendOrder({ url }, freshOrder({ delay_ms: { payment: 0, vendor: 0, courier: 0 } }));
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const signaled = performance.now();
  process.kill(pid, 'SIGTERM');
  while (alive() && performance.now() - signaled < 10_000) await new Promise((resolve) => setTimeout(resolve, 20));
  const took = performance.now() - signaled;
  if (alive()) {
    process.kill(pid, 'SIGKILL');
    return undefined;
  }
  return took;
}

async function measure(build: Build, round: number): Promise<void> {
  const seconds = options.seconds;
  const note = (scenario: Scenario, victim: string): void => {
    rows.push({ scenario, build, round, victim });
    progress(`  ${scenario}, ${build}, round ${round}: ${victim}`);
  };
  if (chosen('shutdown')) {
    const took = await shutdownBehindHead(build);
    note(
      'shutdown',
      took === undefined
        ? 'still running 10 s after SIGTERM (killed)'
        : `exited ${formatFigure(took)} ms after SIGTERM`,
    );
  }
  if (chosen('breaker')) {
    const { victim, opened } = await withServer('breaker', build, {}, (acme, globex, admin) =>
      slowVendorDeadlines(acme, globex, admin, { seconds }),
    );
    note('breaker', `${described(victim)}; vendor breaker ${opened ? 'opened' : 'stayed closed'}`);
  }
  if (chosen('probe')) {
    const { victim } = await withServer('probe', build, { BREAKER_OPEN_MS: '1000' }, (acme, globex, admin) =>
      probeHold(acme, globex, admin, { openMs: 1000, seconds }),
    );
    note('probe', described(victim));
  }
  if (chosen('connections')) {
    const { victim, reopened } = await withServer('connections', build, { MAX_CONNECTIONS: '300' }, (_a, globex) =>
      tricklingSockets(globex.url, globex, { sockets: 320, seconds }),
    );
    note('connections', `${described(victim)}; trickling sockets closed and reopened: ${reopened}`);
  }
  if (chosen('floors')) {
    const { victim } = await withServer('floors', build, { MAX_INFLIGHT: '20' }, (_a, globex, _admin, server) =>
      busyKeys(
        BUSY.map(({ key }) => ({ url: server.url, key })),
        globex,
        { seconds },
      ),
    );
    note('floors', described(victim));
  }
  if (chosen('courier-floors')) {
    const { victim } = await withServer(
      'courier-floors',
      build,
      { COURIERS: '5', ORDER_TIMEOUT_MS: '5000' },
      (_a, globex, _admin, server) =>
        busyKeys(
          BUSY.map(({ key }) => ({ url: server.url, key })),
          globex,
          {
            seconds,
            connections: 4,
            settleMs: 3500,
            hog: { delay_ms: { payment: 1, vendor: 1, courier: 3000 } },
          },
        ),
    );
    note('courier-floors', described(victim));
  }
  if (chosen('cpu-floors')) {
    // acme left out: four keys, none idle, one turn of four threads each.
    const { victim } = await withServer(
      'cpu-floors',
      build,
      {
        THREADS: '4',
        ORDER_TIMEOUT_MS: '5000',
        API_KEYS: [`globex:${GLOBEX}`, ...BUSY.map(({ client, key }) => `${client}:${key}`)].join(','),
      },
      (_a, globex, _admin, server) =>
        busyKeys(
          BUSY.map(({ key }) => ({ url: server.url, key })),
          globex,
          {
            seconds,
            connections: 3,
            settleMs: 3500,
            hog: { delay_ms: { payment: 1, vendor: 1, courier: 1 }, cpu_ms: { payment: 3000 } },
            victimOrder: { delay_ms: { payment: 1, vendor: 1, courier: 1 }, cpu_ms: { payment: 5 } },
          },
        ),
    );
    note('cpu-floors', described(victim));
  }
  if (chosen('couriers-across')) {
    const { alone, withHog } = await withServer(
      'couriers-across',
      build,
      { DATABASE_URL: await freshDatabaseUrl(), INSTANCES: '2', COURIERS: '5', LOG_LEVEL: 'warn' },
      (acme, globex) => couriersAcrossInstances(acme, globex, { seconds }),
    );
    note(
      'couriers-across',
      `alone: ${described(alone)}; beside the hog: ${described(withHog)} (p99 ${(withHog.p99Ms / alone.p99Ms).toFixed(2)}× alone)`,
    );
  }
}

if (!options.baseline) throw new Error('--baseline: the baseline build’s dist/src/main.js is needed');
try {
  for (let round = 1; round <= options.rounds; round++)
    for (const build of ['baseline', 'branch'] as const) await measure(build, round);
} finally {
  await postgres?.stop();
}

console.log(`\n| scenario | build | round | victim |\n|---|---|---|---|`);
for (const { scenario, build, round, victim } of rows) console.log(`| ${scenario} | ${build} | ${round} | ${victim} |`);
