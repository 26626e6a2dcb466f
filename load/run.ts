/**
 * The load suite. Starts the server as a child process per scenario, with
 * the configuration that scenario needs (or uses LOAD_URL), drives it with
 * autocannon, and holds every scenario to its gates: each order gets the
 * status it must, nothing is still running once the load stops, and no
 * thread was replaced. Prints one table; writes load/results/*.json and a
 * self-contained HTML report.
 *
 *   npm run load                       every scenario
 *   npm run load -- overhead cpu       a subset
 *   npm run load -- --duration 5 --connections 20
 *   npm run load:smoke                 every scenario, a few seconds each (CI)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, platform } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { renderReportHtml } from './report-html.js';
import type { LoadReport, ScenarioResult } from './report-types.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import { startServerProcess, type ServerProcess } from './server-process.js';
import { histogram, summarize, timeline, type Sample } from './stats.js';
import { TARGETS } from './targets.js';

const { values: options, positionals: names } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: 'string' },
    connections: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    'server-env': { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', default: false },
  },
});

if (options.help) {
  console.log(
    `usage: npm run load [-- SCENARIO… --duration SECONDS --connections N --smoke --server-env KEY=VALUE…]\nscenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`,
  );
  process.exit(0);
}

const unknown = names.filter((name) => !SCENARIOS.some((scenario) => scenario.name === name));
if (unknown.length > 0) {
  console.error(`unknown scenario: ${unknown.join(', ')}; there are ${SCENARIOS.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const selected = names.length > 0 ? SCENARIOS.filter((scenario) => names.includes(scenario.name)) : SCENARIOS;
const positiveInt = (raw: string | undefined, name: string): number | undefined => {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name} must be a positive integer, got ${raw}`);
    process.exit(2);
  }
  return value;
};
const durationOverride = positiveInt(options.duration, 'duration');
const connectionsOverride = positiveInt(options.connections, 'connections');
const externalUrl = process.env['LOAD_URL'];
/** Settings for every scenario's server on top of its own, e.g. --server-env LOG_LEVEL=silent. */
const serverEnvOverride = Object.fromEntries(
  (options['server-env'] ?? []).map((pair) => {
    const at = pair.indexOf('=');
    if (at < 1) {
      console.error(`--server-env takes KEY=VALUE, got ${pair}`);
      process.exit(2);
    }
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * order_id is the idempotency key: ids unique to this run, so that a second
 * run against the same server (LOAD_URL) runs its orders instead of having
 * them replayed.
 */
const RUN_TAG = Date.now().toString(36);

interface Health {
  readonly running_steps: number;
  readonly orders_in_flight: number;
  readonly threads_replaced: number;
}

async function health(base: URL): Promise<Health> {
  const response = await fetch(new URL('/healthz', base));
  return (await response.json()) as Health;
}

/** Orders until every thread has compiled the step code; each its own id, or all but the first would be replays. */
async function warmUp(base: URL): Promise<void> {
  for (let round = 0; round < 5; round++) {
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => {
        const body = JSON.stringify({ order_id: `${RUN_TAG}-warm-up-${round}-${i}`, amount: 1, delay_ms: { payment: 0, vendor: 0, courier: 0 } });
        return fetch(new URL('/order', base), { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.text());
      }),
    );
  }
}

function peakRssMb(server: ServerProcess | undefined): number | null {
  if (!server?.child.pid) return null;
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : null;
}

async function runScenario(scenario: Scenario): Promise<ScenarioResult> {
  const durationSec = durationOverride ?? (options.smoke ? scenario.smokeSec : scenario.durationSec);
  const connections = connectionsOverride ?? scenario.connections;
  const serverEnv = { ...scenario.serverEnv, ...serverEnvOverride };
  const server = externalUrl ? undefined : await startServerProcess(serverEnv);
  const base = externalUrl ? new URL(externalUrl) : server!.url;
  try {
    await warmUp(base);
    const before = await health(base);
    const samples: Sample[] = [];
    const statuses = new Map<number, number>();
    const unexpected = new Map<number, number>();
    let next = 0;
    let peakInFlight = 0;
    let started = performance.now();

    const warmUpSec = scenario.warmUpSec ?? 1;
    const instance = autocannon({
      // Known to autocannon, missing from its type declarations.
      ...(warmUpSec > 0 ? ({ warmup: { connections, duration: warmUpSec } } as object) : {}),
      url: new URL('/order', base).href,
      connections,
      duration: durationSec,
      timeout: 30,
      requests: [
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          setupRequest: (request, context) => {
            const n = next++;
            (context as { n?: number }).n = n;
            const order = scenario.order(n);
            return { ...request, body: JSON.stringify({ ...order, order_id: `${RUN_TAG}-${String(order['order_id'])}` }) };
          },
          onResponse: (status, _body, context) => {
            const n = (context as { n?: number }).n ?? -1;
            if (status !== scenario.expectedStatus(n)) unexpected.set(status, (unexpected.get(status) ?? 0) + 1);
          },
        },
      ],
    }) as unknown as PromiseLike<autocannon.Result> & {
      on(event: 'start', listener: () => void): void;
      on(event: 'response', listener: (client: unknown, status: number, bytes: number, latency: number) => void): void;
    };
    instance.on('start', () => (started = performance.now()));
    instance.on('response', (_client: unknown, status: number, _bytes: number, latency: number) => {
      samples.push({ at: performance.now() - started, latency });
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    });
    // /healthz every 250 ms for the most orders in flight at once; a progress line every 2 s.
    let ticks = 0;
    const watch = setInterval(() => {
      void health(base)
        .then((now) => (peakInFlight = Math.max(peakInFlight, now.orders_in_flight)))
        .catch(() => undefined);
      if (++ticks % 8 !== 0) return;
      const elapsedMs = performance.now() - started;
      const recent = samples.filter((sample) => sample.at > elapsedMs - 2000).length / 2;
      process.stderr.write(`  ${scenario.name.padEnd(10)} ${(elapsedMs / 1000).toFixed(0).padStart(3)}/${durationSec} s  ${Math.round(recent).toLocaleString('en')} req/s  ${peakInFlight.toLocaleString('en')} in flight at most\n`);
    }, 250);
    let result: autocannon.Result;
    try {
      result = await instance;
    } finally {
      clearInterval(watch);
    }
    const elapsedMs = performance.now() - started;

    // The load generator hangs up on the orders still running when it stops;
    // the server must cancel them and be back at rest.
    const problems: string[] = [];
    let after = await health(base);
    const drainBy = performance.now() + 15_000;
    while (after.orders_in_flight > 0 && performance.now() < drainBy) {
      await pause(50);
      after = await health(base);
    }
    if (after.orders_in_flight > 0) problems.push(`${after.orders_in_flight} orders still in flight 15 s after the load stopped`);
    if (after.running_steps !== 0) problems.push(`tracker at ${after.running_steps} after the load, not 0`);
    const replaced = after.threads_replaced - before.threads_replaced;
    if (replaced !== 0) problems.push(`${replaced} worker thread(s) replaced`);
    if (unexpected.size > 0) {
      problems.push(`unexpected status: ${[...unexpected].map(([status, count]) => `${status}×${count}`).join(' ')}`);
    }
    const errors = result.errors + result.timeouts;
    if (errors > 0) problems.push(`${errors} requests without a response (errors ${result.errors}, time-outs ${result.timeouts})`);

    const latencies = samples.map((sample) => sample.latency);
    const summary: Omit<ScenarioResult, 'target'> = {
      name: scenario.name,
      description: scenario.description,
      serverEnv: externalUrl ? {} : serverEnv,
      connections,
      durationSec,
      requests: samples.length,
      requestsPerSec: Math.round((samples.length / elapsedMs) * 1000),
      latency: summarize(latencies),
      statuses: Object.fromEntries([...statuses].map(([status, count]) => [String(status), count])),
      errors,
      health: { runningSteps: after.running_steps, threadsReplaced: replaced, ordersInFlight: after.orders_in_flight },
      peakRssMb: peakRssMb(server),
      peakOrdersInFlight: peakInFlight,
      problems,
      timeline: timeline(samples, elapsedMs, durationSec > 20 ? 1 : 0.5),
      histogram: histogram(latencies),
    };
    if (problems.length > 0 && server) {
      // What the server said about it: its warnings and errors.
      const said = server.stdout.filter((line) => line.includes('"level":40') || line.includes('"level":50') || line.includes('"level":60'));
      if (said.length > 0) process.stderr.write(`  ${scenario.name}: the server logged\n${said.slice(0, 20).map((line) => `    ${line.slice(0, 400)}`).join('\n')}\n`);
    }
    const target = TARGETS[scenario.name];
    return { ...summary, target: target ? target(summary) : null };
  } finally {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }
}

const report: LoadReport = {
  startedAt: new Date().toISOString(),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${platform()} ${process.arch}` },
  scenarios: [],
};
if (externalUrl) console.error(`using LOAD_URL=${externalUrl}: scenario server settings (COURIERS, timeouts, …) are not applied`);
for (const scenario of selected) {
  process.stderr.write(`${scenario.name}: ${scenario.description}\n`);
  report.scenarios.push(await runScenario(scenario));
}

const ms = (value: number): string => (Number.isFinite(value) ? value.toFixed(1) : '—');
console.table(
  report.scenarios.map((r) => ({
    scenario: r.name,
    'req/s': r.requestsPerSec,
    'p50 ms': ms(r.latency.p50),
    'p90 ms': ms(r.latency.p90),
    'p99 ms': ms(r.latency.p99),
    'max ms': ms(r.latency.max),
    statuses: Object.entries(r.statuses)
      .map(([status, count]) => `${status}×${count}`)
      .join(' '),
    'peak RSS MB': r.peakRssMb ?? '—',
    target: r.target ? `${r.target.met ? 'met' : 'NOT met'}: ${r.target.figure}` : '',
    gates: r.problems.length === 0 ? 'ok' : r.problems.join('; '),
  })),
);

const results = new URL('../../load/results/', import.meta.url);
mkdirSync(results, { recursive: true });
const stamp = report.startedAt.replace(/[:.]/g, '-');
writeFileSync(new URL(`${stamp}.json`, results), JSON.stringify(report, null, 2));
writeFileSync(new URL('latest.json', results), JSON.stringify(report, null, 2));
writeFileSync(new URL('report.html', results), renderReportHtml(report));
console.log(`results: load/results/${stamp}.json, report: load/results/report.html`);

const failed = report.scenarios.filter((r) => r.problems.length > 0);
if (failed.length > 0) {
  console.error(`gates failed in: ${failed.map((r) => r.name).join(', ')}`);
  process.exitCode = 1;
}
