/**
 * The contrast benchmark: the same pipeline and the same step code on the
 * same orders, run two ways — steps on the worker pool (the service as
 * built) and steps inline on the main thread (no threads). For I/O-only and
 * CPU-bound orders it reports orders/s, p99 latency and the event-loop delay
 * p99 during the run; then it measures cancellation directly, from the abort
 * on the main thread to the sleeping step's exit.
 *
 * No HTTP: orders go straight into the pipeline, so the figures are the
 * pipeline's and the threads', not Express's.
 *
 *   npm run bench                 THREADS=2 by default
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { compiledModule, createOrderEngine, DEFAULT_STEPS } from '../src/composition-root.js';
import type { Config } from '../src/config.js';
import { OrderAborted } from '../src/domain/errors.js';
import type { Order, PerStep } from '../src/domain/order.js';
import { OrderPipeline } from '../src/pipeline/order-pipeline.js';
import { modulesOf, type StepDefinition } from '../src/pipeline/steps.js';
import { CancelCellAllocator, CancelCells } from '../src/shared-memory/cancel-cells.js';
import { SlotSemaphore } from '../src/shared-memory/slot-semaphore.js';
import { StepTracker } from '../src/shared-memory/step-tracker.js';
import type { ProbeExit } from './fixtures/cancel-probe-step.js';
import { InlineStepRunner } from './inline-step-runner.js';
import { percentile } from './stats.js';

const THREADS = Number(process.env['THREADS'] ?? 2);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 6);
const config: Config = {
  host: '127.0.0.1',
  port: 0,
  threads: THREADS,
  couriers: 1024,
  orderTimeoutMs: 60_000,
  shutdownTimeoutMs: 5000,
  cancelGraceMs: 250,
  refundTimeoutMs: 1000,
  idempotencyTtlMs: 0,
  orderRecordsMaxBytes: 0,
  threadMaxHeapMb: 512,
  maxInflight: 20_000,
  threadMaxTasks: 60_000,
  poolQueueLimit: 60_000,
  logLevel: 'silent',
  metrics: false,
  faultInjection: false,
  // No HTTP here.
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5000,
  maxConnections: 10_000,
  connectionHardLimit: undefined,
};
const trace = { requestId: 'bench' };
const log = pino({ level: 'silent' });

interface Runner {
  readonly pipeline: OrderPipeline;
  readonly running: () => number;
  close(): Promise<void>;
}

async function onThePool(steps: readonly StepDefinition[] = DEFAULT_STEPS): Promise<Runner> {
  const engine = createOrderEngine(config, log, { steps });
  return { pipeline: engine.pipeline, running: () => engine.health().running_steps, close: () => engine.close() };
}

async function inline(steps: readonly StepDefinition[] = DEFAULT_STEPS): Promise<Runner> {
  const cells = CancelCells.create(10_000);
  const tracker = StepTracker.create(1);
  const couriers = SlotSemaphore.create(config.couriers);
  const runner = await InlineStepRunner.create(new CancelCellAllocator(cells), {
    cancelCells: cells.buffer,
    stepTracker: tracker.buffer,
    courierSlots: couriers.buffer,
    logLevel: 'silent',
    stepModules: modulesOf(steps),
  });
  return {
    pipeline: new OrderPipeline(steps, runner, { timeoutMs: config.orderTimeoutMs, compensationTimeoutMs: config.refundTimeoutMs }),
    running: () => tracker.running(),
    close: async () => {},
  };
}

const RUNNERS = { pool: onThePool, inline } as const;

interface Workload {
  readonly name: string;
  readonly concurrency: number;
  readonly delayMs: number;
  readonly cpuMs: number;
}

const WORKLOADS: readonly Workload[] = [
  { name: 'I/O only: 10 ms delays', concurrency: 200, delayMs: 10, cpuMs: 0 },
  { name: 'CPU: 5 ms per step', concurrency: 16, delayMs: 0, cpuMs: 5 },
  { name: 'CPU: 20 ms per step', concurrency: 16, delayMs: 0, cpuMs: 20 },
];

const perStep = (ms: number): PerStep<number> => ({ payment: ms, vendor: ms, courier: ms });
const order = (id: string, workload: Workload): Order => ({
  orderId: id,
  amount: 1200,
  failStep: undefined,
  failCompensation: false,
  delayMs: { ...perStep(workload.delayMs), refund: 0 },
  cpuMs: perStep(workload.cpuMs),
});

/**
 * Closed loop: `concurrency` clients, each sending its next order when the
 * last is answered. Each order starts from the event loop, as a request
 * would: chained straight from the last one's promise, inline CPU work would
 * run back to back in microtasks and the event loop would never turn.
 */
async function drive(pipeline: OrderPipeline, workload: Workload, seconds: number) {
  const latencies: number[] = [];
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  const until = performance.now() + seconds * 1000;
  let next = 0;
  loopDelay.enable();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workload.concurrency }, async () => {
      while (performance.now() < until) {
        // Sent now; started once the event loop gets to it, as a request would be.
        const sent = performance.now();
        await new Promise((resolve) => setImmediate(resolve));
        const result = await pipeline.process({ order: order(`bench-${next++}`, workload), run: 1 }, new AbortController().signal, trace);
        if (result.failure) throw new Error(`order failed: ${result.failure}`);
        latencies.push(performance.now() - sent);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  loopDelay.disable();
  latencies.sort((a, b) => a - b);
  return {
    ordersPerSec: Math.round(latencies.length / elapsed),
    p99Ms: Number(percentile(latencies, 99).toFixed(1)),
    loopDelayP99Ms: Number((loopDelay.percentile(99) / 1e6).toFixed(1)),
  };
}

/** Abort an order whose three steps are asleep; time each step's exit in its thread from the abort. */
async function cancelLatency(make: typeof onThePool, rounds: number): Promise<number[]> {
  const probe: StepDefinition[] = DEFAULT_STEPS.map((step) => ({ name: step.name, module: compiledModule('load/fixtures/cancel-probe-step').href }));
  const runner = await make(probe);
  const exits = new Map<string, bigint[]>();
  const channel = new BroadcastChannel('cancel-probe');
  channel.onmessage = (event) => {
    const { orderId, exitedAt } = (event as { data: ProbeExit }).data;
    exits.set(orderId, [...(exits.get(orderId) ?? []), exitedAt]);
  };
  const latencies: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const client = new AbortController();
      const id = `cancel-${round}`;
      const answered = runner.pipeline.process({ order: order(id, { name: '', concurrency: 1, delayMs: 0, cpuMs: 0 }), run: 1 }, client.signal, trace);
      while (runner.running() < 3) await new Promise((resolve) => setTimeout(resolve, 1));
      await new Promise((resolve) => setTimeout(resolve, 2));
      const abortedAt = process.hrtime.bigint();
      client.abort(new OrderAborted('client_gone'));
      await answered;
      while ((exits.get(id)?.length ?? 0) < 3) await new Promise((resolve) => setTimeout(resolve, 1));
      for (const exitedAt of exits.get(id)!) latencies.push(Number(exitedAt - abortedAt) / 1e6);
    }
  } finally {
    channel.close();
    await runner.close();
  }
  return latencies.sort((a, b) => a - b);
}

/**
 * The floor under any of this: a worker thread asleep in Atomics.waitAsync,
 * woken by Atomics.notify from the main thread, with nothing else around.
 */
async function bareWakeLatency(rounds: number): Promise<number[]> {
  const words = new Int32Array(new SharedArrayBuffer(8));
  const wokeAt = new BigInt64Array(new SharedArrayBuffer(8));
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     const words = new Int32Array(workerData.words), wokeAt = new BigInt64Array(workerData.wokeAt);
     (async () => { for (;;) { const wait = Atomics.waitAsync(words, 0, 0); if (wait.async) await wait.value;
       wokeAt[0] = process.hrtime.bigint(); Atomics.store(words, 0, 0); Atomics.store(words, 1, 1); } })();
     setInterval(() => {}, 1 << 30);`,
    { eval: true, workerData: { words: words.buffer, wokeAt: wokeAt.buffer } },
  );
  const latencies: number[] = [];
  try {
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (let round = 0; round < rounds; round++) {
      await new Promise((resolve) => setTimeout(resolve, 3));
      Atomics.store(words, 1, 0);
      const notifiedAt = process.hrtime.bigint();
      Atomics.store(words, 0, 1);
      Atomics.notify(words, 0);
      while (Atomics.load(words, 1) === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      latencies.push(Number(wokeAt[0]! - notifiedAt) / 1e6);
    }
  } finally {
    await worker.terminate();
  }
  return latencies.sort((a, b) => a - b);
}

/**
 * What an order in flight costs in memory, without HTTP: the resident size
 * and the main thread's heap, with `count` orders whose steps all wait.
 */
async function memoryInFlight(count: number): Promise<Record<string, string | number>> {
  const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const runner = await onThePool();
  await drive(runner.pipeline, { name: '', concurrency: 8, delayMs: 0, cpuMs: 0 }, 1);
  collect();
  const before = process.memoryUsage();
  const clients = Array.from({ length: count }, () => new AbortController());
  const waiting: Order = { orderId: 'memory', amount: 1, failStep: undefined, failCompensation: false, delayMs: { ...perStep(60_000), refund: 0 }, cpuMs: perStep(0) };
  const orders = clients.map((client, i) => runner.pipeline.process({ order: { ...waiting, orderId: `memory-${i}` }, run: 1 }, client.signal, trace));
  while (runner.running() < count * 3) await new Promise((resolve) => setTimeout(resolve, 20));
  collect();
  const during = process.memoryUsage();
  for (const client of clients) client.abort(new OrderAborted('client_gone'));
  await Promise.all(orders);
  await runner.close();
  return {
    'orders in flight': count,
    'RSS growth (MB)': Math.round((during.rss - before.rss) / 1048576),
    'per order, whole process (KB)': Math.round((during.rss - before.rss) / count / 1024),
    'per order, main-thread heap (KB)': Number(((during.heapUsed - before.heapUsed) / count / 1024).toFixed(1)),
  };
}

const rows: Array<Record<string, string | number>> = [];
for (const workload of WORKLOADS) {
  const figures: Record<string, Awaited<ReturnType<typeof drive>>> = {};
  for (const [name, make] of Object.entries(RUNNERS)) {
    const runner = await make();
    await drive(runner.pipeline, workload, 1); // warm-up: threads started, code compiled
    figures[name] = await drive(runner.pipeline, workload, SECONDS);
    await runner.close();
  }
  const { pool, inline: onMain } = figures as { pool: Awaited<ReturnType<typeof drive>>; inline: Awaited<ReturnType<typeof drive>> };
  rows.push({
    workload: workload.name,
    clients: workload.concurrency,
    'pool orders/s': pool.ordersPerSec,
    'inline orders/s': onMain.ordersPerSec,
    'pool ÷ inline': Number((pool.ordersPerSec / onMain.ordersPerSec).toFixed(2)),
    'pool p99 ms': pool.p99Ms,
    'inline p99 ms': onMain.p99Ms,
    'pool loop delay p99 ms': pool.loopDelayP99Ms,
    'inline loop delay p99 ms': onMain.loopDelayP99Ms,
  });
}

const cancel = {
  'pool: order abort → step exits in its worker': await cancelLatency(onThePool, 200),
  'inline: order abort → step exits on the main thread': await cancelLatency(inline, 200),
  'floor: bare notify → waitAsync wakes in a worker': await bareWakeLatency(300),
};
const cancelRows = Object.entries(cancel).map(([what, latencies]) => ({
  what,
  samples: latencies.length,
  'p50 ms': Number(percentile(latencies, 50).toFixed(3)),
  'p99 ms': Number(percentile(latencies, 99).toFixed(3)),
  'max ms': Number(latencies.at(-1)!.toFixed(3)),
}));

const memory = await memoryInFlight(10_000);

console.log(`Node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), THREADS=${THREADS}, ${SECONDS} s per run`);
console.table(rows);
console.log('Cancellation: from the abort on the main thread to the sleeping step leaving its sleep (process-wide monotonic clock)');
console.table(cancelRows);

console.log('Memory: 10,000 orders in flight, every step waiting (no HTTP)');
console.table([memory]);

const results = new URL('../../load/results/', import.meta.url);
mkdirSync(results, { recursive: true });
writeFileSync(new URL('bench-latest.json', results), JSON.stringify({ at: new Date().toISOString(), threads: THREADS, seconds: SECONDS, workloads: rows, cancel: cancelRows, memory }, null, 2));
