/**
 * The load suite. Starts the server as a child process per scenario, with
 * the configuration that scenario needs (or uses LOAD_URL), drives it with a
 * load generator (autocannon, or wrk), and holds every scenario to its gates:
 * each order gets the status it must, nothing is still running once the load
 * stops, and no thread was replaced. With --against (or --go), runs the
 * comparison scenarios against this service, another server and the lean
 * build of this service's stack (load/lean/) alternately, round by round. Prints its figures; keeps the run in load/results/<time>/
 * (report.json, report.html, the servers' logs) and lists every run kept in
 * load/results/index.html. load/README.md says what each part measures.
 */
import { pathOf, PROJECT_ROOT } from '../../src/paths.js';
import { parseCommandLine } from '../lib/command-line.js';
import { formatRatio, progress, roundsOption } from '../lib/rounds.js';
import { commit, loadAverage, machine } from '../lib/run-info.js';
import { renderIndexHtml } from '../report/index-page.js';
import { baselineOf, pickBaseline, saveIndex, saveRun, startRunFolder, storedRuns } from '../report/results-store.js';
import { renderReportHtml } from '../report/run-report.js';
import type { ComparedScenario, GeneratorName, LoadReport, ScenarioResult } from '../report/types.js';
import { COMPARISON_SCENARIOS } from './comparison-scenarios.js';
import { compareScenario } from './comparison.js';
import { driveScenario } from './drive.js';
import { AUTOCANNON } from './generators/autocannon.js';
import type { LoadGenerator } from './generators/generator.js';
import { WRK } from './generators/wrk.js';
import { DEFAULT_GO_SERVICE_CMD, goService, GO_SERVICE_URL } from './go-service.js';
import { commandServer, runningServer } from './other-server.js';
import { SCENARIOS } from './scenarios.js';
import { comparisonTable, cpuByThreadTable, scenariosTable, sleepsTable } from './terminal-tables.js';
import { leanBuild } from './lean-build.js';
import { thisService } from './this-service.js';

const GENERATORS: Readonly<Record<GeneratorName, LoadGenerator>> = { autocannon: AUTOCANNON, wrk: WRK };

const { values: options, positionals: names } = parseCommandLine(
  {
    command: 'npm run load --',
    positionals: '[SCENARIO…]',
    summary: [
      'Runs the named scenarios (all by default) against this service, a fresh server per scenario,',
      'or with --against (or --go), the comparison scenarios against this service, another server and the lean build alternately.',
    ].join('\n'),
    notes: [
      `scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`,
      `comparison scenarios (--against, --go): ${COMPARISON_SCENARIOS.map((s) => s.name).join(', ')}`,
      "LOAD_URL=http://127.0.0.1:8080 uses this service as it runs there (its settings are then not the scenario's).",
      `--go: the Go service at ${GO_SERVICE_URL}, started for each round with $GO_SERVICE_CMD (default ${DEFAULT_GO_SERVICE_CMD}, beside the clone).`,
      'examples:',
      '  npm run load -- overhead cpu --duration 5',
      '  npm run load:go -- --generator wrk overhead          (npm run load:go is npm run load -- --go)',
      '  npm run load -- --against http://127.0.0.1:8080 overhead light      (a server already running there)',
      '  load/README.md says what each scenario measures and how to read a report',
    ],
  },
  {
    duration: { type: 'integer', help: "seconds of load per scenario (per round), instead of the scenario's" },
    connections: { type: 'integer', help: "connections, instead of the scenario's" },
    'warm-up': {
      type: 'integer',
      help: "seconds of the same load before each measured round, not counted, instead of the scenario's (a comparison's: until the CPU per order settles, at most 40 s)",
    },
    smoke: { type: 'boolean', help: 'a few seconds per scenario: gates applied, targets not judged (what CI runs)' },
    generator: {
      type: 'string',
      default: 'autocannon',
      placeholder: 'NAME',
      help: "the load generator: autocannon (in this process) or wrk (Debian's wrk, a process of its own)",
    },
    'server-env': {
      type: 'strings',
      placeholder: 'KEY=VALUE',
      help: "settings for this service on top of each scenario's, e.g. LOG_LEVEL=silent",
    },
    go: {
      type: 'boolean',
      help: `compare with the Go service: --against ${GO_SERVICE_URL} --against-cmd "$GO_SERVICE_CMD"`,
    },
    against: {
      type: 'string',
      placeholder: 'URL',
      help: `compare with the server at URL (the Go service: ${GO_SERVICE_URL})`,
    },
    'against-cmd': {
      type: 'string',
      placeholder: 'COMMAND',
      help: 'start the other server with COMMAND (sh -c, from the project folder) for each round, stop it after',
    },
    'against-pid': {
      type: 'integer',
      help: "the other server's pid, for its CPU and memory (default: whoever listens on its port)",
    },
    rounds: {
      ...roundsOption(3),
      help: 'with --against: rounds per scenario and server, alternating this, other, lean, this, other, lean…',
    },
    compare: {
      type: 'string',
      placeholder: 'RUN',
      help: 'set the report beside that run (a folder of load/results/), or "none"; default: the previous run of the same kind',
    },
  },
);

const fail = (message: string): never => {
  console.error(message);
  process.exit(2);
};
if (options.go && (options.against !== undefined || options['against-cmd'] !== undefined))
  fail('--go is --against and --against-cmd for the Go service: give one or the other');
const go = options.go ? goService() : null;
const against = options.against ?? go?.url;
const againstCommand = options['against-cmd'] ?? go?.command;
if ((againstCommand !== undefined || options['against-pid'] !== undefined) && against === undefined)
  fail('--against-cmd and --against-pid need --against URL');
const comparing = against !== undefined;
const generator =
  GENERATORS[options.generator as GeneratorName] ?? fail(`--generator: autocannon or wrk, not ${options.generator}`);
const catalogue = comparing ? COMPARISON_SCENARIOS : SCENARIOS;
const unknown = names.filter((name) => !catalogue.some((scenario) => scenario.name === name));
if (unknown.length > 0)
  fail(
    `unknown scenario${comparing ? ' for a comparison' : ''}: ${unknown.join(', ')}; there are ${catalogue.map((s) => s.name).join(', ')}`,
  );
const warmUpSec = options['warm-up'];
if (warmUpSec !== undefined && warmUpSec < 0) fail(`--warm-up: 0 or more seconds, not ${warmUpSec}`);
const selected = (names.length > 0 ? catalogue.filter((scenario) => names.includes(scenario.name)) : catalogue).map(
  (scenario) =>
    warmUpSec === undefined && !options.smoke ? scenario : { ...scenario, warmUpSec, warmUntilSettled: false },
);
for (const scenario of selected) {
  try {
    generator.check(scenario);
  } catch (error) {
    fail((error as Error).message);
  }
}

/** Settings for every scenario's server on top of its own, e.g. --server-env LOG_LEVEL=silent. */
const serverEnvOverride = Object.fromEntries(
  options['server-env'].map((pair) => {
    const at = pair.indexOf('=');
    if (at < 1) fail(`--server-env takes KEY=VALUE, got ${pair}`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);
const externalUrl = process.env['LOAD_URL'];
if (externalUrl)
  console.error(`using LOAD_URL=${externalUrl}: scenario server settings (COURIERS, timeouts, …) are not applied`);
const startThisService = thisService(externalUrl, serverEnvOverride);

const startedAt = new Date().toISOString();
/** Chosen before the load runs, so that a --compare naming no run fails at once. */
const runs = storedRuns();
const baseline = (() => {
  try {
    const kind = {
      comparison: comparing,
      smoke: options.smoke,
      generator: generator.name,
      scenarios: selected.map((s) => s.name),
    };
    return pickBaseline(runs, startedAt, kind, options.compare);
  } catch (error) {
    return fail((error as Error).message);
  }
})();
const folder = startRunFolder(startedAt);
progress(`${generator.name} drives the load; the servers write to ${folder.dir}/logs/`);
if (warmUpSec !== undefined)
  progress(`${warmUpSec} s of load before each measured round (--warm-up), for every scenario`);

const durationOf = (scenario: (typeof selected)[number]): number =>
  options.duration ?? (options.smoke ? scenario.smokeSec : scenario.durationSec);
const loadAtStart = loadAverage();
const results: ScenarioResult[] = [];
const compared: ComparedScenario[] = [];

if (comparing) {
  const url = new URL(against);
  const other =
    againstCommand !== undefined
      ? commandServer(url, againstCommand, {
          cwd: pathOf(PROJECT_ROOT),
          ...(go ? { whenMissing: go.whenMissing } : {}),
        })
      : runningServer(url, options['against-pid']);
  progress(
    againstCommand === undefined
      ? `other server: the one running at ${url.origin}`
      : `other server: ${go ? 'the Go service, ' : ''}started for each round with ${againstCommand}${go ? ` (${go.from})` : ''}; checking it starts…`,
  );
  await other.check(folder.logFile).catch((error: Error) => fail(error.message));
  if (options.rounds < 3)
    console.error(`--rounds ${options.rounds}: fewer than 3 rounds give a spread, not a median worth quoting`);
  for (const scenario of selected) {
    progress(`${scenario.name}: ${scenario.description}`);
    const settings = {
      durationSec: durationOf(scenario),
      connections: options.connections ?? scenario.connections,
      generator,
    };
    // The other server not answering, or not starting, ends the run with what it says, not a stack trace.
    const start = {
      this: startThisService,
      other: async (_env: Readonly<Record<string, string>>, logFile: string) => ({
        target: await other.startRound(logFile),
        stop: () => other.endRound(),
      }),
      lean: leanBuild,
    };
    const c = await compareScenario(scenario, options.rounds, { start, logFile: folder.logFile }, settings).catch(
      (error: Error) => fail(error.message),
    );
    compared.push(c);
    progress(
      `${scenario.name}: this ÷ other ${formatRatio(c.pairRatios, c.ratioOfMedians)}, this ÷ lean ${formatRatio(c.pairRatiosToLean!, c.ratioToLean)}`,
    );
  }
  console.log(comparisonTable(compared));
  console.log(
    `median (min–max) of ${options.rounds} rounds, ${generator.name}; this ÷ other, this ÷ lean: the ratio of the medians (min–max of the ratios round by round);` +
      ' CPU µs/order: the process (every thread) over the measured load, per order answered' +
      (selected.some((scenario) => scenario.warmUntilSettled)
        ? '; each round warmed up until its CPU per order settled'
        : ''),
  );
  const byThread = cpuByThreadTable(compared);
  if (byThread) console.log(`\n${byThread}`);
  const sleeps = sleepsTable(compared);
  if (sleeps) console.log(`\n${sleeps}`);
} else {
  for (const scenario of selected) {
    progress(`${scenario.name}: ${scenario.description}`);
    const server = await startThisService(scenario.serverEnv, folder.logFile(scenario.name));
    try {
      const settings = {
        durationSec: durationOf(scenario),
        connections: options.connections ?? scenario.connections,
        generator,
        target: options.smoke ? 'shown' : 'judged',
        label: scenario.name,
      } as const;
      results.push((await driveScenario(scenario, server.target, settings)).result);
    } finally {
      await server.stop();
    }
  }
  console.log(scenariosTable(results));
  const plain = results.map((result) => ({ name: result.name, this: [result] }));
  const byThread = cpuByThreadTable(plain);
  if (byThread) console.log(`\n${byThread}`);
  const sleeps = sleepsTable(plain);
  if (sleeps) console.log(`\n${sleeps}`);
}

const report: LoadReport = {
  startedAt,
  finishedAt: new Date().toISOString(),
  smoke: options.smoke,
  generator: generator.name,
  machine: machine(),
  commit: commit(),
  loadAverage: { start: loadAtStart, end: loadAverage() },
  scenarios: results,
  comparison: comparing
    ? { against, againstCommand: againstCommand ?? null, rounds: options.rounds, scenarios: compared }
    : null,
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
