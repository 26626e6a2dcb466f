/**
 * What does it cost a thread to sleep and be woken, and to wake another, on this machine?
 * Kept in: docs/decisions/cancellation.md
 *
 * The price of the service's every hand-over between threads, in CPU-µs, as
 * the kernel this runs on charges it (each thread's own CPU clock,
 * `process.threadCpuUsage`, or the process's for the event loop's turn):
 *
 * - a system call that does not block (`fstat`): the control, what entering
 *   the kernel costs;
 * - a sleep and its wake-up: `Atomics.wait` for 1 µs on a word nobody
 *   notifies, so the thread blocks on its futex and its timer wakes it;
 * - a notify that wakes a sleeping thread, as the step rings' bells do: the
 *   waker's CPU for the call alone, the sleeper a worker blocked in
 *   `Atomics.wait` (`sync`) or in its event loop on `Atomics.waitAsync`
 *   (`async`, how the service's threads wait), once a millisecond;
 * - a notify of a word nobody waits on: the control for the one above;
 * - an idle turn of an event loop: a 1 ms timer and nothing else, the
 *   process's CPU per turn.
 *
 * Several rounds, each figure the median of its rounds with their min–max.
 * `--busy` runs a spinning process beside it (the other core taken, as under
 * load): a wake-up then seldom finds an idle core.
 *
 *   npm run measure -- wake-cost
 *   npm run measure -- wake-cost --rounds 5 --busy
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { once } from 'node:events';
import { setTimeout as milliseconds } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { parseCommandLine } from '../lib/command-line.js';
import { formatSpread, inRounds, roundsOption, spreadOf } from '../lib/rounds.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- wake-cost',
    summary:
      'CPU-µs of a system call, of a sleep and its wake-up, of a notify that wakes a sleeping thread, and of an idle turn of an event loop.',
  },
  {
    rounds: roundsOption(3),
    wakes: { type: 'integer', default: 1000, min: 10, help: 'wake-ups per figure and round, one a millisecond' },
    busy: { type: 'boolean', default: false, help: 'a spinning process beside the measurement, the other core taken' },
    spin: { type: 'boolean', default: false, help: 'spin until killed: the --busy process itself' },
  },
);

if (options.spin) for (;;);

const threadCpuUs = (): number => {
  const { user, system } = process.threadCpuUsage();
  return user + system;
};
const processCpuUs = (): number => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** CPU-µs of one non-blocking system call. */
function systemCall(): number {
  const fd = openSync('/dev/null', 'r');
  const calls = 100_000;
  const from = threadCpuUs();
  for (let i = 0; i < calls; i++) fstatSync(fd);
  const spent = threadCpuUs() - from;
  closeSync(fd);
  return spent / calls;
}

/** CPU-µs of one sleep of this thread on a futex, and its wake-up by its timer. */
function sleepAndWake(): number {
  const word = new Int32Array(new SharedArrayBuffer(4));
  const sleeps = options.wakes;
  const from = threadCpuUs();
  for (let i = 0; i < sleeps; i++) Atomics.wait(word, 0, 0, 0.001);
  return (threadCpuUs() - from) / sleeps;
}

/** A worker that sleeps on word 0 and, each time it is woken, quiets the word and sleeps again. */
const SLEEPER = {
  sync: `const { workerData, parentPort } = require('node:worker_threads');
    const word = new Int32Array(workerData);
    parentPort.postMessage('ready');
    for (;;) { Atomics.store(word, 0, 0); Atomics.wait(word, 0, 0); }`,
  async: `const { workerData, parentPort } = require('node:worker_threads');
    const word = new Int32Array(workerData);
    const sleep = () => {
      Atomics.store(word, 0, 0);
      const wait = Atomics.waitAsync(word, 0, 0);
      if (wait.async) wait.value.then(sleep); else setImmediate(sleep);
    };
    sleep();
    setInterval(() => {}, 1 << 30);
    parentPort.postMessage('ready');`,
} as const;

/**
 * The waker's CPU-µs per notify, once a millisecond: of a sleeping worker (its word found quiet, as a ring's bell is),
 * or, with `sleeper` undefined, of a word nobody waits on.
 */
async function notify(sleeper: keyof typeof SLEEPER | undefined): Promise<number> {
  const buffer = new SharedArrayBuffer(4);
  const word = new Int32Array(buffer);
  const worker = sleeper ? new Worker(SLEEPER[sleeper], { eval: true, workerData: buffer }) : undefined;
  try {
    if (worker) await once(worker, 'message');
    await milliseconds(50);
    let spent = 0;
    for (let i = 0; i < options.wakes; i++) {
      await milliseconds(1);
      const from = threadCpuUs();
      if (Atomics.compareExchange(word, 0, 0, 1) === 0) Atomics.notify(word, 0, 1);
      spent += threadCpuUs() - from;
      if (!worker) Atomics.store(word, 0, 0);
    }
    return spent / options.wakes;
  } finally {
    await worker?.terminate();
  }
}

/** The process's CPU-µs per turn of an event loop that only waits 1 ms for a timer. */
async function idleTurn(): Promise<number> {
  await milliseconds(10);
  const from = processCpuUs();
  for (let i = 0; i < options.wakes; i++) await milliseconds(1);
  return (processCpuUs() - from) / options.wakes;
}

const FIGURES = {
  'system call (fstat)': async () => systemCall(),
  'sleep and wake-up (futex, 1 µs)': async () => sleepAndWake(),
  'notify, a sleeping worker (Atomics.wait)': () => notify('sync'),
  'notify, a sleeping worker (Atomics.waitAsync)': () => notify('async'),
  'notify, nobody waiting': () => notify(undefined),
  'an idle event loop turn (1 ms timer)': idleTurn,
} as const;
type Figure = keyof typeof FIGURES;

let spinner: ChildProcess | undefined;
if (options.busy) {
  // This module itself, not the command that named it: `--spin` is its option.
  spinner = fork(fileURLToPath(import.meta.url), ['--spin'], { stdio: 'ignore' });
  await milliseconds(200);
}
try {
  const rounds = await inRounds(options.rounds, async () => {
    const round = {} as Record<Figure, number>;
    for (const [name, measure] of Object.entries(FIGURES) as Array<[Figure, () => Promise<number>]>)
      round[name] = await measure();
    return round;
  });
  console.table(
    (Object.keys(FIGURES) as Figure[]).map((name) => ({
      'CPU-µs each': name,
      'median (min–max)': formatSpread(spreadOf(rounds.map((round) => round[name]))),
    })),
  );
  console.log(
    `median (min–max) of ${options.rounds} rounds, ${options.wakes.toLocaleString('en-US')} wake-ups each; ${options.busy ? 'a spinning process beside it' : 'nothing else running'}`,
  );
} finally {
  spinner?.kill('SIGKILL');
}
