/**
 * The event loop's lateness (src/composition/loop-lateness.ts) on this test's own loop: sampled fifty times a second
 * while the loop is busy, once a second while it is idle or nearly — an idle service's timers were most of what it
 * spent.
 */
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { LoopLateness } from '../../src/composition/loop-lateness.js';
import { eventually, pause } from '../support/wait.js';

/** This thread's CPU time so far, in ms. */
const cpuMs = (): number => {
  const { user, system } = process.threadCpuUsage();
  return (user + system) / 1000;
};

/**
 * Keeps the loop busy for `ms`: 30 ms of CPU at a time, with a turn of the loop between. CPU, not the clock: the
 * lateness is net of the thread's waits for a core, and 30 ms of the clock beside busy loops was a few of CPU.
 */
async function busyFor(ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const chunkEnd = cpuMs() + 30;
    while (cpuMs() < chunkEnd && performance.now() < until);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Keeps the loop busy for `ms` in turns of `turnMs`, each followed by `restMs` idle: 2 and 18, a tenth of its time, as
 * a few orders a second would; 14 and 28, a third, in turns now and then long (a collection, a big JSON, a wait for a
 * core mid-turn).
 */
async function busyInTurnsFor(ms: number, turnMs: number, restMs: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const turnEnd = performance.now() + turnMs;
    while (performance.now() < turnEnd);
    await new Promise((resolve) => setTimeout(resolve, restMs));
  }
}

/** How many times, looked at every 50 ms for `ms`, the loop was sampled at its pace. */
async function seenAtPace(lateness: LoopLateness, ms: number): Promise<number> {
  let atPace = 0;
  const until = performance.now() + ms;
  while (performance.now() < until) {
    if (lateness.sampling) atPace++;
    await pause(50);
  }
  return atPace;
}

/** Once it samples once a second again (the loop idle). */
async function idlePace(lateness: LoopLateness): Promise<void> {
  await eventually(
    async () => lateness.sampling,
    (sampling) => !sampling,
    { within: 2000, every: 20 },
  );
}

describe('the loop lateness', () => {
  let loop: LoopLateness | undefined;
  afterEach(() => loop?.stop());

  it('is sampled at its pace while the loop is busy, and once a second while it is idle', async () => {
    loop = new LoopLateness();
    const lateness = loop;
    await idlePace(lateness);
    expect(lateness.lateMs).toBe(0);
    // Busy: within a second it is sampled at its pace again, and it finds the loop late.
    const busy = busyFor(2500);
    const sampledAgain = await eventually(
      async () => lateness.sampling && lateness.lateMs > 1,
      (found) => found,
      { within: 2400, every: 20 },
    );
    await busy;
    expect(sampledAgain).toBe(true);
    await pause(100);
    await idlePace(lateness);
  });

  it('is sampled at its pace within a second of the loop becoming busy, late in an idle second as early', async () => {
    const madeAt = performance.now();
    loop = new LoopLateness();
    const lateness = loop;
    // Its first sample, 20 ms on, finds the loop idle: its next is a second after that.
    await idlePace(lateness);
    await pause(Math.max(0, madeAt + 620 - performance.now()));
    const busyFrom = performance.now();
    const busy = busyFor(2000);
    await eventually(
      async () => lateness.sampling,
      (sampling) => sampling,
      { within: 1900, every: 5 },
    );
    const atPaceAfterMs = performance.now() - busyFrom;
    await busy;
    // Before: judged by its whole idle second, busy less than half of it, and left idle for another: 1.4 s.
    expect(atPaceAfterMs).toBeLessThan(1000);
  });

  it('is sampled once a second while the loop is busy only a tenth of its time', async () => {
    loop = new LoopLateness();
    const lateness = loop;
    await idlePace(lateness);
    // At 2% busy, the line it was drawn at, a loop this light was sampled at its pace, fifty wake-ups a second.
    const [, sampledAtPace] = await Promise.all([busyInTurnsFor(2500, 2, 18), seenAtPace(lateness, 2400)]);
    expect(sampledAtPace).toBe(0);
    expect(lateness.lateMs).toBe(0);
  });

  it('is sampled once a second while the loop is busy a third of its time in turns of 14 ms', async () => {
    loop = new LoopLateness();
    const lateness = loop;
    await idlePace(lateness);
    // Judged by the last 20 ms of its idle second, a turn filling most of them brought the pace back: about one look in
    // three.
    const [, atPace] = await Promise.all([busyInTurnsFor(4000, 14, 28), seenAtPace(lateness, 3900)]);
    expect(atPace).toBe(0);
  });

  it("gives back the file it reads the thread's waits from when stopped: a service started and stopped keeps none", () => {
    const open = () => readdirSync('/proc/self/fd').length;
    const before = open();
    const loops = Array.from({ length: 10 }, () => new LoopLateness());
    expect(open()).toBe(before + 10);
    for (const each of loops) each.stop();
    expect(open()).toBe(before);
  });
});
