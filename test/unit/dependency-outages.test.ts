/**
 * The dependencies' outages in shared memory: what the main thread switches
 * is what every thread mapping the buffer draws against, call by call.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { DependencyOutages, NO_OUTAGE } from '../../src/shared-memory/dependency-outages.js';

const NAMES = ['payment', 'vendor', 'courier'] as const;

/** A random source that answers `values` in turn. */
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

describe('DependencyOutages', () => {
  it('starts with no outage: every call reaches its service, on time', () => {
    const outages = DependencyOutages.create(NAMES);
    for (const name of NAMES) {
      expect(outages.outageOf(name)).toEqual(NO_OUTAGE);
      expect(outages.isOut(name)).toBe(false);
      expect(outages.draw(name, () => 0)).toEqual({ reaches: true, latencyMs: 0 });
    }
  });

  it('refuses the share of calls the ratio says, counts them, and adds its latency to every call', () => {
    const outages = DependencyOutages.create(NAMES);
    outages.set('vendor', { failureRatio: 0.25, latencyMs: 40 });
    const draws = [0, 0.2499, 0.25, 0.9999].map((r) => outages.draw('vendor', () => r));
    expect(draws).toEqual([
      { reaches: false, latencyMs: 40 },
      { reaches: false, latencyMs: 40 },
      { reaches: true, latencyMs: 40 },
      { reaches: true, latencyMs: 40 },
    ]);
    expect(outages.refusedCalls('vendor')).toBe(2);
    // The others are untouched.
    expect(outages.draw('payment', () => 0)).toEqual({ reaches: true, latencyMs: 0 });
    expect(outages.refusedCalls('payment')).toBe(0);
  });

  it('a ratio of 1 refuses every call, 0 none; ending the outage ends both', () => {
    const outages = DependencyOutages.create(NAMES);
    outages.set('courier', { failureRatio: 1, latencyMs: 0 });
    const random = sequence(0, 0.5, 0.999999);
    expect([1, 2, 3].map(() => outages.draw('courier', random).reaches)).toEqual([false, false, false]);
    outages.set('courier', { failureRatio: 0, latencyMs: 15 });
    expect(outages.isOut('courier')).toBe(true);
    expect([1, 2, 3].map(() => outages.draw('courier', random).reaches)).toEqual([true, true, true]);
    outages.set('courier', NO_OUTAGE);
    expect(outages.isOut('courier')).toBe(false);
    expect(outages.refusedCalls('courier')).toBe(3);
  });

  it('keeps the ratio to the millionth', () => {
    const outages = DependencyOutages.create(NAMES);
    outages.set('payment', { failureRatio: 1 / 3, latencyMs: 0 });
    expect(outages.outageOf('payment').failureRatio).toBe(0.333333);
  });

  it('refuses a ratio outside 0..1, a latency that is not a whole number of ms up to a minute, and an unknown name', () => {
    const outages = DependencyOutages.create(NAMES);
    expect(() => outages.set('vendor', { failureRatio: 1.5, latencyMs: 0 })).toThrow(RangeError);
    expect(() => outages.set('vendor', { failureRatio: NaN, latencyMs: 0 })).toThrow(RangeError);
    expect(() => outages.set('vendor', { failureRatio: 0, latencyMs: 1.5 })).toThrow(RangeError);
    expect(() => outages.set('vendor', { failureRatio: 0, latencyMs: 60_001 })).toThrow(RangeError);
    expect(() =>
      new DependencyOutages(DependencyOutages.create(NAMES).buffer, [...NAMES, 'database']).draw('database'),
    ).toThrow(RangeError);
    expect(() => outages.draw('database' as (typeof NAMES)[number])).toThrow(RangeError);
  });

  it('is the same outage on another thread: switched here, drawn there, counted here', async () => {
    const outages = DependencyOutages.create(NAMES);
    outages.set('vendor', { failureRatio: 1, latencyMs: 7 });
    // A worker maps the buffer and draws three calls, as a step's thread does.
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const words = new Int32Array(workerData);
       // vendor is the second dependency: FAILURE_PPM, LATENCY_MS, REFUSED.
       const base = 3;
       const seen = [Atomics.load(words, base), Atomics.load(words, base + 1)];
       for (let i = 0; i < 3; i++) Atomics.add(words, base + 2, 1);
       parentPort.postMessage(seen);`,
      { eval: true, workerData: outages.buffer },
    );
    const seen = await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    await worker.terminate();
    expect(seen).toEqual([1_000_000, 7]);
    expect(outages.refusedCalls('vendor')).toBe(3);
  });
});
