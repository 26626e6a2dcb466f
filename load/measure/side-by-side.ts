/**
 * What does a change cost an order, beside the build before it, with both under the same load at the same time?
 * Kept in: docs/decisions/courier-hand-over.md
 *
 * On this machine the CPU an order moves by up to 2× within seconds, on every
 * thread at once, so rounds taken one server after the other (the load
 * suite's `--against`) can hide a change of 5–10%. Here both servers run at
 * once, each under its own wrk for the same few seconds, and each window's
 * ratio is taken between figures of the same seconds. The server under test
 * is this build; the baseline is another build's `dist/src/main.js`, or this
 * one with other settings (`--baseline-env`). Each window: CPU µs an order of
 * each process, by thread (main, step threads, V8's helpers), and orders/s.
 * Every order must be answered as the scenario expects.
 *
 *   npm run measure -- side-by-side --baseline ../before/dist/src/main.js
 *   npm run measure -- side-by-side --baseline-env THREADS=1 --windows 16
 *   npm run measure -- side-by-side --baseline-flag=--max-semi-space-size=16
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseCommandLine } from '../lib/command-line.js';
import { cpuByThreadOf, cpuPerOrderByThread, cpuTimeOf } from '../lib/proc.js';
import { formatRatio, formatSpread, pairRatios, progress, spreadOf, type Spread } from '../lib/rounds.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { formatTable } from '../lib/table.js';
import { WRK } from '../suite/generators/wrk.js';
import { scenarioNamed, type Scenario } from '../suite/scenarios.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- side-by-side',
    summary: [
      'This build and a baseline under the same load at the same time, each driven by its own wrk,',
      'in windows of a few seconds: CPU µs an order by thread, and this ÷ baseline window by window.',
    ].join('\n'),
  },
  {
    baseline: {
      type: 'string',
      placeholder: 'main.js',
      help: "another build's dist/src/main.js (its own node_modules beside it); this build's if left out",
    },
    'baseline-env': {
      type: 'strings',
      placeholder: 'NAME=value',
      help: "settings of the baseline only, over the scenario's",
    },
    'baseline-flag': {
      type: 'strings',
      placeholder: '--flag=value',
      help: "a Node or V8 flag of the baseline only, after the server's own (SERVER_NODE_FLAGS), which it overrides",
    },
    scenario: { type: 'string', default: 'overhead', help: 'a load-suite scenario wrk can drive' },
    windows: { type: 'integer', default: 12, min: 1, help: 'measured windows' },
    seconds: { type: 'integer', default: 3, min: 1, help: 'seconds a window' },
    'warm-up': {
      type: 'integer',
      default: 8,
      min: 0,
      help: 'seconds of the same load on both before the first window',
    },
  },
);

const scenario: Scenario = scenarioNamed(options.scenario);
WRK.check(scenario);

const baselineEnv = Object.fromEntries(
  options['baseline-env'].map((setting) => {
    const at = setting.indexOf('=');
    if (at <= 0) throw new Error(`--baseline-env takes NAME=value, got ${setting}`);
    return [setting.slice(0, at), setting.slice(at + 1)] as const;
  }),
);
/**
 * Room to record every order, as the comparison's servers have: 16 windows of `overhead` send more than the 256 MB
 * the scenario gives hold, and a server shedding the rest would be measured shedding.
 */
const env = { ...scenario.serverEnv, ORDER_RECORDS_MAX_MB: '1024' };

interface Side {
  readonly name: string;
  readonly server: ServerProcess;
}

/** One window's figures of one side: µs an order by thread and for the process, and orders/s. */
interface Figures {
  readonly process: number;
  readonly mainThread: number;
  readonly stepThreads: number;
  readonly v8Helpers: number;
  readonly ordersPerSec: number;
}

const pidOf = ({ server }: Side): number => server.child.pid!;

/** The load on both sides at once for `seconds`: each side's figures over it. */
async function measureWindow(sides: readonly Side[], seconds: number, tag: string): Promise<Figures[]> {
  const before = sides.map((side) => ({ threads: cpuByThreadOf(pidOf(side)), cpu: cpuTimeOf(pidOf(side)) }));
  const generated = await Promise.all(
    sides.map(
      (side, i) =>
        WRK.start(
          {
            url: new URL('/order', side.server.url),
            scenario,
            connections: scenario.connections,
            durationSec: seconds,
            warmUpSec: 0,
            tag: `${tag}-${i}`,
          },
          () => {},
        ).finished,
    ),
  );
  return sides.map((side, i) => {
    const { responses, unexpected, noResponse, elapsedMs } = generated[i]!;
    if (unexpected.size > 0 || noResponse.size > 0)
      throw new Error(`${side.name}: answers it should not give: ${JSON.stringify([...unexpected, ...noResponse])}`);
    const threads = cpuByThreadOf(pidOf(side));
    const cpu = cpuTimeOf(pidOf(side));
    const from = before[i]!;
    if (!threads || !cpu || !from.threads || !from.cpu) throw new Error(`${side.name}: its process is gone`);
    const byThread = cpuPerOrderByThread(from.threads, threads, cpu.processSec - from.cpu.processSec, responses);
    return {
      process: ((cpu.processSec - from.cpu.processSec) * 1e6) / responses,
      mainThread: byThread.mainThread,
      stepThreads: byThread.workerThreads,
      v8Helpers: byThread.v8Helpers,
      ordersPerSec: (responses * 1000) / elapsedMs,
    };
  });
}

// Their request lines go to files, not through this process, which shares the cores with them.
const logs = mkdtempSync(join(tmpdir(), 'side-by-side-'));
const started = await Promise.all([
  startServerProcess(env, { logFile: join(logs, 'this.log') }),
  startServerProcess(
    { ...env, ...baselineEnv },
    {
      logFile: join(logs, 'baseline.log'),
      extraNodeFlags: options['baseline-flag'],
      ...(options.baseline ? { main: resolve(options.baseline) } : {}),
    },
  ),
]);
const sides: Side[] = [
  { name: 'this build', server: started[0] },
  { name: options.baseline ? `baseline (${options.baseline})` : 'baseline (this build)', server: started[1] },
];
const tag = `side-${Date.now().toString(36)}`;
const windows: Figures[][] = [];
try {
  if (options['warm-up'] > 0) {
    progress(`warming both up for ${options['warm-up']} s`);
    await measureWindow(sides, options['warm-up'], `${tag}-warm-up`);
  }
  for (let w = 0; w < options.windows; w++) {
    const figures = await measureWindow(sides, options.seconds, `${tag}-${w}`);
    windows.push(figures);
    const [mine, theirs] = figures as [Figures, Figures];
    progress(
      `window ${w + 1}/${options.windows}: ${Math.round(mine.process)} against ${Math.round(theirs.process)} µs an order, ${(mine.process / theirs.process).toFixed(3)}×`,
    );
  }
} finally {
  for (const { server } of sides) server.child.kill('SIGTERM');
  await Promise.all(sides.map(({ server }) => server.exited));
  rmSync(logs, { recursive: true, force: true });
}

const figure = (side: number, pick: (figures: Figures) => number): Spread =>
  spreadOf(windows.map((both) => pick(both[side]!)));
const row = (label: string, pick: (figures: Figures) => number): string[] => {
  const [mine, theirs] = [figure(0, pick), figure(1, pick)];
  return [
    label,
    formatSpread(mine),
    formatSpread(theirs),
    formatRatio(spreadOf(pairRatios(mine.values, theirs.values))),
  ];
};
console.log(
  formatTable(
    [
      { heading: `${scenario.name}, ${options.windows} windows of ${options.seconds} s` },
      { heading: sides[0]!.name, align: 'right' },
      { heading: sides[1]!.name, align: 'right' },
      { heading: 'this ÷ baseline', align: 'right' },
    ],
    [
      row('CPU µs an order, the process', (f) => f.process),
      row('the main thread', (f) => f.mainThread),
      row('the step threads', (f) => f.stepThreads),
      row("V8's helpers", (f) => f.v8Helpers),
      row('orders/s', (f) => f.ordersPerSec),
    ],
  ),
);
console.log(
  `median (min–max) of the windows; this ÷ baseline: the median of the ratios taken window by window (their min–max). wrk, ${scenario.connections} connections each, both at once.` +
    (Object.keys(baselineEnv).length > 0 ? ` Baseline settings: ${options['baseline-env'].join(' ')}.` : '') +
    (options['baseline-flag'].length > 0 ? ` Baseline flags: ${options['baseline-flag'].join(' ')}.` : ''),
);
