/**
 * The arithmetic the load suite and the benchmarks report with: medians and
 * spreads over rounds, ratios pair by pair, histogram buckets fitted to the
 * data, and what they read from /proc and from Prometheus text.
 */
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import {
  cpuByThreadOf,
  cpuPerOrderByThread,
  cpuTimeOf,
  listeningInodes,
  pidListeningOn,
  sleepsOf,
  sleepsPerOrder,
} from '../../load/lib/proc.js';
import { parseCommandLine } from '../../load/lib/command-line.js';
import { formatRatio, formatSpread, pairRatios, spreadOf } from '../../load/lib/rounds.js';
import { gaugeValue } from '../../load/lib/prometheus-text.js';
import { histogram, histogramBounds } from '../../load/lib/stats.js';

describe('rounds', () => {
  it('takes the median of an odd count, the mean of the middle two of an even one, and the min–max', () => {
    expect(spreadOf([3, 1, 2])).toMatchObject({ median: 2, min: 1, max: 3, values: [3, 1, 2] });
    expect(spreadOf([4, 1, 3, 2])).toMatchObject({ median: 2.5, min: 1, max: 4 });
    expect(spreadOf([5, NaN, 1])).toMatchObject({ median: 3, min: 1, max: 5 });
    expect(spreadOf([]).median).toBeNaN();
  });

  it('sets each round of one side against the same round of the other', () => {
    expect(pairRatios([2, 6, 3], [1, 3, 6])).toEqual([2, 2, 0.5]);
  });

  it('formats a figure with its spread, and a ratio around any center with the spread of the ratios', () => {
    expect(formatSpread(spreadOf([1299, 998, 1889]))).toBe('1,299 (998–1,889)');
    expect(formatSpread(spreadOf([204.7]))).toBe('205');
    expect(formatRatio(spreadOf([0.49, 0.75, 1.69]))).toBe('0.75× (0.49–1.69)');
    expect(formatRatio(spreadOf([0.5, 0.6]), 0.52)).toBe('0.52× (0.50–0.60)');
  });

  it('parses options with their defaults, integers checked', () => {
    const line = { command: 'test', summary: 'test', positionals: '[NAME…]' };
    const spec = {
      rounds: { type: 'integer', default: 3, help: '' },
      against: { type: 'string', help: '' },
      env: { type: 'strings', help: '' },
      smoke: { type: 'boolean', help: '' },
    } as const;
    expect(parseCommandLine(line, spec, ['a', '--rounds', '5', '--env', 'X=1', '--env', 'Y=2'])).toEqual({
      values: { rounds: 5, against: undefined, env: ['X=1', 'Y=2'], smoke: false },
      positionals: ['a'],
    });
    expect(parseCommandLine(line, spec, ['--smoke']).values).toMatchObject({ rounds: 3, smoke: true });
  });
});

describe('histogram buckets', () => {
  it('splits a narrow distribution (light: 203–213 ms) into many buckets and counts every response once', () => {
    const latencies = Array.from({ length: 500 }, (_, i) => 203 + (i % 100) / 10);
    const { upperMs, counts } = histogram(latencies);
    expect(upperMs.length).toBeGreaterThanOrEqual(30);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(latencies.length);
    expect(upperMs[0]).toBe(203);
    expect(upperMs.at(-1)).toBeGreaterThanOrEqual(212.9);
  });

  it('keeps a long tail to at most 400 buckets, each a constant ratio wider than the last', () => {
    const latencies = [...Array.from({ length: 1000 }, (_, i) => 200 + i / 100), 0.5, 60_000];
    const bounds = histogramBounds(latencies);
    expect(bounds.length).toBeLessThanOrEqual(401);
    const ratios = bounds.slice(1, 50).map((bound, i) => bound / bounds[i]!);
    for (const ratio of ratios) expect(ratio).toBeCloseTo(ratios[0]!, 3);
    expect(histogram(latencies, bounds).counts.reduce((a, b) => a + b, 0)).toBe(latencies.length);
  });
});

describe('what the suite reads', () => {
  it('finds the listening socket of a port in a /proc/net/tcp table', () => {
    const table = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0',
      '   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 20 4 30 10 -1',
    ].join('\n');
    expect(listeningInodes(table, 8080)).toEqual(['4242']);
    expect(listeningInodes(table, 8081)).toEqual([]);
  });

  it('finds the process listening on a port: this one', async () => {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as { port: number };
      expect(pidListeningOn(port)).toBe(process.pid);
    } finally {
      server.close();
    }
  });

  it("tells a process's CPU by kind of thread, a worker's computing as the worker threads', the four adding up", async () => {
    // Read before the worker exists: all its time, its start included, falls in the window.
    const before = cpuByThreadOf(process.pid)!;
    // A worker that computes until its own thread has had 150 ms of CPU — however long a busy machine takes to give
    // it that — then says so and stays until it is ended: a thread that has exited is no longer in /proc's list, its
    // time the process's alone.
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const cpuMs = () => { const { user, system } = process.threadCpuUsage(); return (user + system) / 1000; };
       while (cpuMs() < 150);
       parentPort.postMessage('computed');
       setInterval(() => {}, 1 << 30);`,
      { eval: true },
    );
    try {
      await once(worker, 'message');
      const after = cpuByThreadOf(process.pid)!;
      const process_ = cpuTimeOf(process.pid)!;
      // /proc counts in 10 ms ticks: at least 0.14 of the worker's 0.15 s.
      expect(after.workerThreads - before.workerThreads).toBeGreaterThanOrEqual(0.14);
      const sum = after.mainThread + after.workerThreads + after.v8Helpers + after.other;
      expect(Math.abs(sum - process_.processSec)).toBeLessThan(0.05);
      expect(after.mainThread).toBeCloseTo(process_.mainThreadSec, 1);
    } finally {
      await worker.terminate();
    }
  });

  it('gives each kind of thread its µs per order over a window, the rest never below nothing', () => {
    const from = { mainThread: 1, workerThreads: 0.5, v8Helpers: 0.2, other: 0.05 };
    // Ticks rounded apart: the threads' 0.41 s over the window against the process's 0.4.
    const to = { mainThread: 1.3, workerThreads: 0.6, v8Helpers: 0.21, other: 0.04 };
    expect(cpuPerOrderByThread(from, to, 0.4, 1000)).toEqual({
      mainThread: 300,
      workerThreads: 100,
      v8Helpers: 10,
      other: 0,
    });
    expect(cpuPerOrderByThread(from, { ...to, v8Helpers: 0.2 }, 0.45, 1000).other).toBe(50);
  });

  it("counts a process's threads going to sleep: a worker that blocks 50 times adds at least 50", async () => {
    // The worker blocks on a futex that nobody notifies, 1 ms at a time: each wait is a sleep and a wake-up. Counted
    // while it still lives, kept until it is ended: a thread that has exited takes its count along.
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const word = new Int32Array(new SharedArrayBuffer(4));
       parentPort.once('message', () => {
         for (let i = 0; i < 50; i++) Atomics.wait(word, 0, 0, 1);
         parentPort.postMessage('slept');
         setInterval(() => {}, 1 << 30);
       });
       parentPort.postMessage('ready');`,
      { eval: true },
    );
    try {
      await once(worker, 'message');
      const before = sleepsOf(process.pid)!;
      worker.postMessage('sleep');
      await once(worker, 'message');
      expect(sleepsOf(process.pid)! - before).toBeGreaterThanOrEqual(50);
    } finally {
      await worker.terminate();
    }
  });

  it('gives the sleeps per order over a window, and none where the count went back (a thread exited)', () => {
    expect(sleepsPerOrder(1000, 1878, 1000)).toBe(0.88);
    expect(sleepsPerOrder(1000, 900, 1000)).toBeNull();
    expect(sleepsPerOrder(null, 900, 1000)).toBeNull();
    expect(sleepsPerOrder(1000, 1200, 0)).toBeNull();
  });

  it('reads a gauge from Prometheus text, with or without labels', () => {
    const text = '# HELP x\nnodejs_eventloop_lag_p99_seconds 0.0123\nnodejs_eventloop_lag_max_seconds{pid="1"} 0.05\n';
    expect(gaugeValue(text, 'nodejs_eventloop_lag_p99_seconds')).toBe(0.0123);
    expect(gaugeValue(text, 'nodejs_eventloop_lag_max_seconds')).toBe(0.05);
    expect(gaugeValue(text, 'nodejs_eventloop_lag_p50_seconds')).toBeNull();
  });
});
