/**
 * The event loop's lateness (src/composition/loop-lateness.ts) on this test's own loop: sampled fifty times a second
 * while the loop is busy, once a second while it is idle — an idle service's timers were most of what it spent.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LoopLateness } from '../../src/composition/loop-lateness.js';
import { eventually, pause } from '../support/wait.js';

/** Keeps the loop busy for `ms`: 30 ms of work at a time, with a turn of the loop between. */
async function busyFor(ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const chunkEnd = Math.min(until, performance.now() + 30);
    while (performance.now() < chunkEnd);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('the loop lateness', () => {
  let loop: LoopLateness | undefined;
  afterEach(() => loop?.stop());

  it('is sampled at its pace while the loop is busy, and once a second while it is idle', async () => {
    loop = new LoopLateness();
    const lateness = loop;
    await eventually(
      async () => lateness.sampling,
      (sampling) => !sampling,
      { within: 2000, every: 20 },
    );
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
    await eventually(
      async () => lateness.sampling,
      (sampling) => !sampling,
      { within: 2000, every: 20 },
    );
  });
});
