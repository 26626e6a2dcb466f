/**
 * The load suite. Starts the server as a child process per scenario, with
 * the configuration that scenario needs (or uses LOAD_URL), drives it with
 * autocannon, and holds every scenario to its gates: each order gets the
 * status it must, nothing is still running once the load stops, and no
 * thread was replaced. With --against, runs the comparison scenarios against
 * this service and another server alternately, round by round. Prints a
 * table; keeps the run in load/results/<time>/ (report.json, report.html)
 * and lists every run kept in load/results/index.html.
 */
import { COMPARISON_SCENARIOS } from './comparison-scenarios.js';
import { compareScenario, type StartThisService } from './comparison.js';
import { driveScenario } from './drive.js';
import { HEADLINES } from '../report/headline.js';
import { renderIndexHtml } from '../report/index-page.js';
import { commandServer, runningServer } from './other-server.js';
import { pidServing } from '../lib/proc.js';
import { renderReportHtml } from '../report/run-report.js';
import type { ComparedScenario, LoadReport, ScenarioResult } from '../report/types.js';
import { baselineOf, pickBaseline, saveIndex, saveRun, storedRuns } from '../report/results-store.js';
import { parseCommandLine } from '../lib/command-line.js';
import { formatFigure, formatRatio, formatSpread, progress, roundsOption, spreadOf } from '../lib/rounds.js';
import { commit, loadAverage, machine } from '../lib/run-info.js';
import { SCENARIOS } from './scenarios.js';
import { startServerProcess } from '../lib/server-process.js';

const { values: options, positionals: names } = parseCommandLine(
  {
    command: 'npm run load --',
    positionals: '[SCENARIO…]',
    summary: [
      'Runs the named scenarios (all by default) against this service, a fresh server per scenario,',
      'or with --against, the comparison scenarios against this service and another server alternately.',
    ].join('\n'),
    notes: [
      `scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`,
      `comparison scenarios (--against): ${COMPARISON_SCENARIOS.map((s) => s.name).join(', ')}`,
      "LOAD_URL=http://127.0.0.1:8080 uses this service as it runs there (its settings are then not the scenario's).",
      'examples:',
      '  npm run load -- overhead cpu --duration 5',
      '  npm run load -- --against http://127.0.0.1:8080 --against-cmd ../shared/peers/go-order-pipeline/run.sh overhead light',
    ],
  },
  {
    duration: { type: 'integer', help: "seconds of load per scenario (per round), instead of the scenario's" },
    connections: { type: 'integer', help: "connections, instead of the scenario's" },
    smoke: { type: 'boolean', help: 'a few seconds per scenario: gates applied, targets not judged (what CI runs)' },
    'server-env': { type: 'strings', placeholder: 'KEY=VALUE', help: "settings for this service on top of each scenario's, e.g. LOG_LEVEL=silent" },
    against: { type: 'string', placeholder: 'URL', help: 'compare with the server at URL (the Go service: http://127.0.0.1:8080)' },
    'against-cmd': { type: 'string', placeholder: 'COMMAND', help: 'start the other server with COMMAND (sh -c) for each round, stop it after' },
    'against-pid': { type: 'integer', help: "the other server's pid, for its CPU and memory (default: whoever listens on its port)" },
    rounds: { ...roundsOption(3), help: 'with --against: rounds per scenario and server, alternating this, other, this, other…' },
    compare: { type: 'string', placeholder: 'RUN', help: 'set the report beside that run (a folder of load/results/), or "none"; default: the previous run of the same kind' },
  },
);

const fail = (message: string): never => {
  console.error(message);
  process.exit(2);
};
if ((options['against-cmd'] !== undefined || options['against-pid'] !== undefined) && options.against === undefined) fail('--against-cmd and --against-pid need --against URL');
const catalogue = options.against !== undefined ? COMPARISON_SCENARIOS : SCENARIOS;
const unknown = names.filter((name) => !catalogue.some((scenario) => scenario.name === name));
if (unknown.length > 0) fail(`unknown scenario${options.against ? ' for --against' : ''}: ${unknown.join(', ')}; there are ${catalogue.map((s) => s.name).join(', ')}`);
const selected = names.length > 0 ? catalogue.filter((scenario) => names.includes(scenario.name)) : catalogue;

/** Settings for every scenario's server on top of its own, e.g. --server-env LOG_LEVEL=silent. */
const serverEnvOverride = Object.fromEntries(
  options['server-env'].map((pair) => {
    const at = pair.indexOf('=');
    if (at < 1) fail(`--server-env takes KEY=VALUE, got ${pair}`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);
const externalUrl = process.env['LOAD_URL'];
if (externalUrl) console.error(`using LOAD_URL=${externalUrl}: scenario server settings (COURIERS, timeouts, …) are not applied`);

const startThisService: StartThisService = async (scenarioEnv) => {
  if (externalUrl) {
    const url = new URL(externalUrl);
    return { target: { url, isThisService: true, pid: pidServing(url), freshProcess: false, serverEnv: null }, stop: async () => {} };
  }
  const serverEnv = { ...scenarioEnv, ...serverEnvOverride };
  const server = await startServerProcess(serverEnv);
  return {
    target: { url: server.url, isThisService: true, pid: server.child.pid ?? null, freshProcess: true, serverEnv, output: () => server.stdout },
    stop: async () => {
      if (server.child.exitCode === null) {
        server.child.kill('SIGTERM');
        await server.exited;
      }
    },
  };
};

const startedAt = new Date().toISOString();
/** Chosen before the load runs, so that a --compare naming no run fails at once. */
const runs = storedRuns();
const baseline = (() => {
  try {
    return pickBaseline(runs, startedAt, { comparison: options.against !== undefined, smoke: options.smoke, scenarios: selected.map((s) => s.name) }, options.compare);
  } catch (error) {
    return fail((error as Error).message);
  }
})();

const durationOf = (scenario: (typeof selected)[number]): number => options.duration ?? (options.smoke ? scenario.smokeSec : scenario.durationSec);
const loadAtStart = loadAverage();
const results: ScenarioResult[] = [];
const compared: ComparedScenario[] = [];

if (options.against !== undefined) {
  const url = new URL(options.against);
  const command = options['against-cmd'];
  const other = command !== undefined ? commandServer(url, command) : runningServer(url, options['against-pid']);
  await other.check().catch((error: Error) => fail(error.message));
  if (options.rounds < 3) console.error(`--rounds ${options.rounds}: fewer than 3 rounds give a spread, not a median worth quoting`);
  for (const scenario of selected) {
    progress(`${scenario.name}: ${scenario.description}`);
    const settings = { durationSec: durationOf(scenario), connections: options.connections ?? scenario.connections };
    // The other server not answering, or not starting, ends the run with what it says, not a stack trace.
    const c = await compareScenario(scenario, options.rounds, startThisService, other, settings).catch((error: Error) => fail(error.message));
    compared.push(c);
    progress(`${scenario.name}: this ÷ other ${formatRatio(c.pairRatios, c.ratioOfMedians)}`);
  }
  console.table(
    compared.map((c) => ({
      scenario: c.name,
      headline: HEADLINES[c.headline].label,
      'this service': formatSpread(c.thisFigure),
      'other server': formatSpread(c.otherFigure),
      'this ÷ other': formatRatio(c.pairRatios, c.ratioOfMedians),
      'most in flight (this)': Math.round(spreadOf(c.this.map((r) => r.peakOrdersInFlight ?? NaN)).median),
      gates: [...c.this, ...c.other].every((r) => r.problems.length === 0) ? 'ok' : 'FAILED',
    })),
  );
  console.log('median (min–max) of the rounds; the ratio is of the medians, with the min–max of the ratios round by round');
} else {
  for (const scenario of selected) {
    progress(`${scenario.name}: ${scenario.description}`);
    const server = await startThisService(scenario.serverEnv);
    try {
      const settings = { durationSec: durationOf(scenario), connections: options.connections ?? scenario.connections, judgeTargets: !options.smoke, label: scenario.name };
      results.push((await driveScenario(scenario, server.target, settings)).result);
    } finally {
      await server.stop();
    }
  }
  const ms = (value: number): string => (Number.isFinite(value) ? value.toFixed(1) : '—');
  console.table(
    results.map((r) => ({
      scenario: r.name,
      'req/s': r.requestsPerSec,
      'p50 ms': ms(r.latency.p50),
      'p90 ms': ms(r.latency.p90),
      'p99 ms': ms(r.latency.p99),
      'max ms': ms(r.latency.max),
      statuses: Object.entries(r.statuses)
        .map(([status, count]) => `${status}×${count}`)
        .join(' '),
      'peak RSS MB': r.peakRssMb ?? (r.sampledPeakRssMb === null ? '—' : `${formatFigure(r.sampledPeakRssMb)} (sampled)`),
      target: r.target ? `${r.target.met ? 'met' : 'NOT met'}: ${r.target.figure}` : options.smoke ? 'not judged (smoke)' : '',
      gates: r.problems.length === 0 ? 'ok' : r.problems.join('; '),
    })),
  );
}

const report: LoadReport = {
  startedAt,
  finishedAt: new Date().toISOString(),
  smoke: options.smoke,
  machine: machine(),
  commit: commit(),
  loadAverage: { start: loadAtStart, end: loadAverage() },
  scenarios: results,
  comparison: options.against !== undefined ? { against: options.against, againstCommand: options['against-cmd'] ?? null, rounds: options.rounds, scenarios: compared } : null,
  baseline: baseline ? baselineOf(baseline) : null,
};
const dir = saveRun(report, renderReportHtml(report));
const index = saveIndex(renderIndexHtml([...runs, { dir: dir.split('/').pop()!, report }]));
console.log(`report: ${dir}/report.html${baseline ? ` (beside ${baseline.dir})` : ''}; every run: ${index}`);

const failed = [...results, ...compared.flatMap((c) => [...c.this, ...c.other])].filter((r) => r.problems.length > 0);
if (failed.length > 0) {
  console.error(`gates failed in: ${[...new Set(failed.map((r) => r.name))].join(', ')}`);
  process.exitCode = 1;
}
