/**
 * What young generation should the service's main thread run with: CPU per order against peak memory?
 * Kept in: docs/decisions/the-runtime-and-its-heaps.md
 *
 * The service as `npm start` runs it, its flags (SERVER_NODE_FLAGS) with `--max-semi-space-size=N` after them for each
 * N of `--sizes` (8, the default today, first): the comparison's `overhead` — warmed until its CPU per order settles,
 * then CPU µs an order by thread (main, step threads, V8's helpers), orders/s and p99 — and its `wide` — the peak RSS
 * (VmHWM) of a process started for it, 5,000 orders in flight. Rounds alternate the sizes, each round in another order;
 * each figure is the median of its rounds, and each size's ratio to the first is taken round by round.
 *
 *   npm run measure -- young-gen                          # 8, 16 and 32 MB, 3 rounds, wrk
 *   npm run measure -- young-gen --sizes 8,16 --rounds 5
 */
import { parseCommandLine } from '../lib/command-line.js';
import { formatRatio, formatSpread, pairRatios, progress, roundsOption, spreadOf } from '../lib/rounds.js';
import { startServerProcess } from '../lib/server-process.js';
import { formatTable } from '../lib/table.js';
import type { ScenarioResult } from '../report/types.js';
import { COMPARISON_SCENARIOS } from '../suite/comparison-scenarios.js';
import { driveScenario } from '../suite/drive.js';
import { AUTOCANNON } from '../suite/generators/autocannon.js';
import { WRK } from '../suite/generators/wrk.js';
import { startedForRound } from '../suite/this-service.js';
import { serverLog } from './server-logs.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- young-gen',
    summary: "The service with each main-thread semi-space size: overhead's CPU per order by thread, wide's peak RSS.",
  },
  {
    sizes: {
      type: 'string',
      default: '8,16,32',
      placeholder: 'MB,…',
      help: 'semi-space sizes in MB, the baseline first',
    },
    rounds: roundsOption(3),
    generator: { type: 'string', default: 'wrk', placeholder: 'NAME', help: 'wrk or autocannon, for overhead' },
    duration: { type: 'integer', default: 10, min: 1, help: "seconds of overhead's measured load" },
  },
);

const sizes = options.sizes.split(',').map(Number);
if (sizes.length < 2 || !sizes.every((size) => Number.isInteger(size) && size > 0))
  throw new Error(`--sizes: two or more sizes in MB, the baseline first, not ${options.sizes}`);
const generator = options.generator === 'autocannon' ? AUTOCANNON : WRK;
const scenario = (name: string) => COMPARISON_SCENARIOS.find((s) => s.name === name)!;
const [overhead, wide] = [scenario('overhead'), scenario('wide')];
generator.check(overhead);

interface Measured {
  readonly overhead: ScenarioResult;
  readonly wide: ScenarioResult;
}

/** One scenario on a server started for it with semi-spaces of `size` MB. */
async function drive(size: number, which: typeof overhead, round: number): Promise<ScenarioResult> {
  const server = startedForRound(
    await startServerProcess(which.serverEnv, {
      logFile: serverLog(`${which.name}-semi-space-${size}`),
      extraNodeFlags: [`--max-semi-space-size=${size}`],
    }),
    which.serverEnv,
    true,
  );
  try {
    const label = `${which.name}, semi-space ${size} MB, round ${round}/${options.rounds}`;
    const settings = which === overhead ? { generator, durationSec: options.duration } : { generator: AUTOCANNON };
    const { result } = await driveScenario(which, server.target, {
      durationSec: which.durationSec,
      connections: which.connections,
      ...settings,
      target: 'none',
      label,
    });
    if (result.problems.length > 0) throw new Error(`${label}: ${result.problems.join('; ')}`);
    return result;
  } finally {
    await server.stop();
  }
}

const rounds: Array<Map<number, Measured>> = [];
for (let round = 1; round <= options.rounds; round++) {
  progress(`round ${round}/${options.rounds}`);
  const measured = new Map<number, Measured>();
  // Each round in another order, so that no size always runs first on a machine that drifts.
  const order = sizes.map((_, i) => sizes[(i + round - 1) % sizes.length]!);
  for (const size of order)
    measured.set(size, { overhead: await drive(size, overhead, round), wide: await drive(size, wide, round) });
  rounds.push(measured);
}

const figures: Array<[string, (m: Measured) => number | null | undefined]> = [
  ['overhead: CPU µs an order, the process', (m) => m.overhead.processCpu?.usPerOrder],
  ['  the main thread', (m) => m.overhead.processCpu?.byThread?.mainThread],
  ['  the step threads', (m) => m.overhead.processCpu?.byThread?.workerThreads],
  ["  V8's helpers", (m) => m.overhead.processCpu?.byThread?.v8Helpers],
  ['overhead: orders/s', (m) => m.overhead.requestsPerSec],
  ['overhead: p99 ms', (m) => m.overhead.latency.p99],
  ['wide: peak RSS MB (5,000 in flight)', (m) => m.wide.peakRssMb],
  ['wide: CPU µs an order', (m) => m.wide.processCpu?.usPerOrder],
];
const [baseline, ...others] = sizes as [number, ...number[]];
const valuesOf = (size: number, pick: (m: Measured) => number | null | undefined): number[] =>
  rounds.map((round) => pick(round.get(size)!) ?? NaN);
console.log(
  formatTable(
    [
      { heading: `${options.rounds} rounds, ${generator.name}` },
      ...sizes.map((size) => ({ heading: `${size} MB`, align: 'right' as const })),
      ...others.map((size) => ({ heading: `${size} ÷ ${baseline}`, align: 'right' as const })),
    ],
    figures.map(([label, pick]) => [
      label,
      ...sizes.map((size) => formatSpread(spreadOf(valuesOf(size, pick)))),
      ...others.map((size) => formatRatio(spreadOf(pairRatios(valuesOf(size, pick), valuesOf(baseline, pick))))),
    ]),
  ),
);
console.log(
  'median (min–max) of the rounds; ratios round by round. The main thread only: the step threads keep their 1 MB (src/runtime.ts).',
);
