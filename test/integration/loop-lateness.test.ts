/**
 * How late the main thread's loop runs by its own work, not the machine's (`ownLateMs`,
 * src/composition/loop-lateness.ts): a process whose loop has little to do, niced beside two processes spinning on the two cores, fires its timers about
 * 100 ms late, waiting for a core, and is not late by its own work; a loop that computes 80 ms a turn is late by it,
 * beside the same spinners. A client sending alone is shed by it (src/http/guards/client-load.ts): on a busy machine,
 * the only client sending was refused 503 for a lateness it did not cause.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { LOOP_LATE_MS } from '../../src/http/guards/client-load.js';

/**
 * A process with a LoopLateness, whose loop computes `chunkMs` of CPU a turn, never idle between turns (a loop that
 * waits in the kernel between them is idle by its own measure while it waits for a core, and reads 0 whatever: beside
 * two busy loops, 1 ms turns with 1 ms between them were), once told to begin, for 2.5 s and at
 * least 30 turns: the lateness is a mean over 25 samples, one a turn at most when a turn is longer than the pace, and a
 * window not yet filled reads low (in a full run beside the spinners, 80 ms turns came at a third of a core). And until
 * the last second of it was sampled at its pace, for at most 6 s: the loop begins idle, sampled once a second, and a
 * process held off the cores fires that second's timer late (told to begin at a random moment of it, niced beside the
 * spinners and up to ten busy loops, it was at its pace 0.1–1.4 s later).
 */
const LOOP = `
const { LoopLateness } = await import(process.argv[1]);
const chunkMs = Number(process.argv[2]);
const compute = (ms) => {
  const from = process.threadCpuUsage();
  for (;;) {
    const used = process.threadCpuUsage(from);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
};
const loop = new LoopLateness();
console.log('ready');
await new Promise((resolve) => process.stdin.once('data', resolve));
let late = 0, timers = 0, expected = performance.now() + 20;
const clock = setInterval(() => {
  const now = performance.now();
  late += Math.max(0, now - expected);
  timers++;
  expected = now + 20;
}, 20);
let turns = 0;
const from = performance.now();
let enough;
const done = new Promise((resolve) => (enough = resolve));
const seen = [];
const look = setInterval(() => seen.push({ lateMs: loop.ownLateMs, sampling: loop.sampling }), 100);
const atPaceForASecond = () => seen.length >= 10 && seen.slice(-10).every(({ sampling }) => sampling);
const turn = () => {
  compute(chunkMs);
  const ranMs = performance.now() - from;
  if (++turns >= 30 && ranMs >= 2500 && (atPaceForASecond() || ranMs >= 6000)) return enough();
  setImmediate(turn);
};
turn();
await done;
clearInterval(clock);
clearInterval(look);
loop.stop();
const last = seen.slice(-10);
console.log(JSON.stringify({
  timersLateMs: late / timers,
  lateMs: last.reduce((sum, { lateMs }) => sum + lateMs, 0) / last.length,
  sampling: last.every(({ sampling }) => sampling),
}));
process.exit(0);
`;

const spinners: ChildProcess[] = [];
afterEach(() => {
  for (const spinner of spinners.splice(0)) spinner.kill('SIGKILL');
});

async function lateness(chunkMs: number, niceness: number) {
  const module = new URL('../../dist/src/composition/loop-lateness.js', import.meta.url).href;
  const child = spawn(
    'nice',
    ['-n', String(niceness), process.execPath, '--input-type=module', '-e', LOOP, module, String(chunkMs)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  expect((await lines.next()).value).toBe('ready');
  for (let i = 0; i < 2; i++) spinners.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  child.stdin.write('go\n');
  const result = JSON.parse(String((await lines.next()).value)) as {
    timersLateMs: number;
    lateMs: number;
    sampling: boolean;
  };
  await once(child, 'exit');
  return result;
}

describe("the loop's lateness", () => {
  it('is not the time its thread waited for a core: a loop with little to do, held off by a busy machine, is not late', async () => {
    const held = await lateness(1, 10);
    // The control, timed in the same process: its timers fired late (20-100 ms on average, measured), waiting.
    expect(held.timersLateMs, JSON.stringify(held)).toBeGreaterThanOrEqual(10);
    // Measured at its pace, busy more than half its time: not idle, which reads 0 whatever.
    expect(held.sampling, JSON.stringify(held)).toBe(true);
    // A fraction of the control, and below the guards' line by far (without the run queue's waits taken out, it was
    // the control).
    expect(held.lateMs, JSON.stringify(held)).toBeLessThan(Math.min(held.timersLateMs / 4, LOOP_LATE_MS / 3));
  });

  it('is the time its own work holds it, beside the same busy machine', async () => {
    const computing = await lateness(80, 0);
    expect(computing.lateMs, JSON.stringify(computing)).toBeGreaterThanOrEqual(LOOP_LATE_MS);
  });
});
