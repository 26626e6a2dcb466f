/**
 * Which Piscina `atomics` mode lets async work in a worker make progress?
 * For each mode: whether a timer a task leaves behind fires while the thread
 * is idle, how long 10,000 steps sleeping 200 ms at once take on 2 threads,
 * and the round trip of an empty task. Several rounds, every mode in each;
 * each mode's figures set against `async` (the mode the service uses) within
 * a round.
 *
 *   npm run measure:atomics
 *   npm run measure:atomics -- --rounds 5
 */
import { Piscina } from 'piscina';
import { compiledModule } from '../../src/paths.js';
import type { ProbeTask } from './fixtures/probe-worker.js';
import { parseCommandLine } from '../lib/command-line.js';
import { formatRatio, formatSpread, inRounds, pairRatios, progress, roundsOption, spreadOf } from '../lib/rounds.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure:atomics --',
    summary:
      "Piscina's atomics modes (sync, async, disabled) on 2 threads: does a timer left by a task fire while the thread idles; 10,000 sleeping steps; empty-task round trips.",
  },
  { rounds: roundsOption(5) },
);

const MODES = ['sync', 'async', 'disabled'] as const;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Figures {
  readonly timersFired: number;
  readonly sleepersMs: number;
  readonly roundTripP50Us: number;
  readonly roundTripP99Us: number;
}

async function measure(mode: (typeof MODES)[number]): Promise<Figures> {
  const pool = new Piscina<ProbeTask, number>({
    filename: compiledModule('load/measure/fixtures/probe-worker').href,
    minThreads: 2,
    maxThreads: 2,
    concurrentTasksPerWorker: 20_000,
    atomics: mode,
  });
  try {
    await Promise.all([pool.run({ op: 'noop' }), pool.run({ op: 'noop' })]);

    const fired = new SharedArrayBuffer(4);
    await Promise.all([pool.run({ op: 'leave-timer', ms: 20, fired }), pool.run({ op: 'leave-timer', ms: 20, fired })]);
    await pause(300);
    const timersFired = Atomics.load(new Int32Array(fired), 0);

    const cell = new SharedArrayBuffer(4);
    let started = performance.now();
    await Promise.all(Array.from({ length: 10_000 }, () => pool.run({ op: 'sleep', ms: 200, cell })));
    const sleepersMs = performance.now() - started;

    const roundTrips: number[] = [];
    for (let i = 0; i < 2000; i++) {
      started = performance.now();
      await pool.run({ op: 'noop' });
      roundTrips.push(performance.now() - started);
    }
    roundTrips.sort((a, b) => a - b);
    return {
      timersFired,
      sleepersMs,
      roundTripP50Us: roundTrips[1000]! * 1000,
      roundTripP99Us: roundTrips[1980]! * 1000,
    };
  } finally {
    await pool.destroy();
  }
}

const rounds = await inRounds(options.rounds, async () => {
  const round = {} as Record<(typeof MODES)[number], Figures>;
  for (const mode of MODES) {
    round[mode] = await measure(mode);
    progress(
      `  ${mode}: ${Math.round(round[mode].sleepersMs)} ms for the sleepers, round trip p50 ${Math.round(round[mode].roundTripP50Us)} µs`,
    );
  }
  return round;
});
const across = (mode: (typeof MODES)[number], key: keyof Figures) => spreadOf(rounds.map((round) => round[mode][key]));
const versusAsync = (mode: (typeof MODES)[number], key: keyof Figures) =>
  formatRatio(spreadOf(pairRatios(across(mode, key).values, across('async', key).values)));
console.log(`median (min–max) of ${options.rounds} rounds; "÷ async": that mode against async within each round`);
console.table(
  MODES.map((mode) => ({
    mode,
    'timer left by a task fired while idle': `${formatSpread(across(mode, 'timersFired'), (fired) => String(Number(fired.toFixed(1))))}/2`,
    '10k steps sleeping 200 ms at once, 2 threads (ms)': formatSpread(across(mode, 'sleepersMs')),
    '÷ async': mode === 'async' ? '' : versusAsync(mode, 'sleepersMs'),
    'empty task round trip p50 (µs)': formatSpread(across(mode, 'roundTripP50Us')),
    'p99 (µs)': formatSpread(across(mode, 'roundTripP99Us')),
    'p50 ÷ async': mode === 'async' ? '' : versusAsync(mode, 'roundTripP50Us'),
  })),
);
