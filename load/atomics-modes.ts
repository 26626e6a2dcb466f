/**
 * Which Piscina `atomics` mode lets async work in a worker make progress?
 * For each mode: whether a timer a task leaves behind fires while the thread
 * is idle, how long 10,000 steps sleeping 200 ms at once take on 2 threads,
 * and the round trip of an empty task.
 *
 *   npm run measure:atomics
 */
import { Piscina } from 'piscina';
import type { ProbeTask } from './fixtures/probe-worker.js';

const MODES = ['sync', 'async', 'disabled'] as const;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function measure(mode: (typeof MODES)[number]): Promise<Record<string, string | number>> {
  const pool = new Piscina<ProbeTask, number>({
    filename: new URL('./fixtures/probe-worker.js', import.meta.url).href,
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
      mode,
      'timer left by a task fired while idle': `${timersFired}/2`,
      '10k steps sleeping 200 ms at once, 2 threads (ms)': Math.round(sleepersMs),
      'empty task round trip p50 (µs)': Math.round(roundTrips[1000]! * 1000),
      'p99 (µs)': Math.round(roundTrips[1980]! * 1000),
    };
  } finally {
    await pool.destroy();
  }
}

const rows = [];
for (const mode of MODES) rows.push(await measure(mode));
console.table(rows);
