/**
 * What do the worker threads buy, and what do they cost per order, without HTTP?
 * Kept in: docs/decisions/steps-as-piscina-tasks.md
 *
 * The contrast benchmark: the same pipeline and the same step code on the
 * same orders, run two ways — steps on the worker pool (the service as
 * built) and steps inline on the main thread (no threads). For I/O-only and
 * CPU-bound orders it reports orders/s, the process's CPU per order (every
 * thread: what the threads cost beside what they buy) and, for the I/O-only
 * ones, how it splits between the main thread, the step threads and V8's
 * helpers, p99 latency and the event-loop delay p99 during the run; then it
 * measures cancellation directly, from the abort on the main thread to the
 * sleeping step's exit.
 *
 * No HTTP: orders go straight into the pipeline, so the figures are the
 * pipeline's and the threads', not Express's.
 *
 * Several rounds, each figure the median of its rounds with their min–max,
 * and pool ÷ inline taken within each round: single runs here swung from
 * 0.49× to 1.69×.
 *
 *   npm run measure -- bench                       3 rounds, THREADS=2
 *   npm run measure -- bench --rounds 5 --seconds 6
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { createOrderEngine } from '../../src/composition/engine.js';
import { DEFAULT_STEPS } from '../../src/composition/steps.js';
import { compiledModule, projectFile } from '../../src/paths.js';
import { loadConfig, type Config } from '../../src/config.js';
import { OrderAborted } from '../../src/domain/errors.js';
import { everyStep, runOf, type Order, type PerStep } from '../../src/domain/order.js';
import { OrderPipeline } from '../../src/pipeline/order-pipeline.js';
import type { StepDefinition } from '../../src/pipeline/steps.js';
import type { ProbeExit } from './fixtures/cancel-probe-step.js';
import { inlineStepRunner } from '../lib/inline-step-runner.js';
import { parseCommandLine } from '../lib/command-line.js';
import { cpuByThreadOf, cpuPerOrderByThread } from '../lib/proc.js';
import {
  formatFigure,
  formatRatio,
  formatSpread,
  inRounds,
  pairRatios,
  progress,
  roundsOption,
  spreadOf,
} from '../lib/rounds.js';
import { percentile } from '../lib/stats.js';
import { ANONYMOUS } from '../../src/auth/caller.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- bench',
    summary: [
      'The same pipeline and step code with steps on the worker pool and inline on the main thread, no HTTP:',
      'orders/s, p99 and event-loop delay per workload; cancellation latency; memory per order in flight.',
      'Each round runs every workload on the pool and then inline, back to back.',
    ].join('\n'),
  },
  {
    rounds: roundsOption(3),
    seconds: {
      type: 'integer',
      default: Number(process.env['BENCH_SECONDS'] ?? 3),
      help: 'seconds per workload and runner (after 1 s of warm-up)',
    },
    threads: { type: 'integer', default: Number(process.env['THREADS'] ?? 2), help: 'worker threads of the pool' },
    'in-flight': { type: 'integer', default: 10_000, help: 'orders in flight for the memory figure' },
    'memory-only': {
      type: 'boolean',
      help: 'the memory figure alone, once, printed as JSON (each round runs it in a fresh process)',
    },
  },
);
const ROUNDS = options.rounds;
const THREADS = options.threads;
const SECONDS = options.seconds;
const IN_FLIGHT = options['in-flight'];
/**
 * Orders aborted per round and runner for the cancellation figures (the bare wake-up floor gets three times as many).
 */
const CANCEL_ORDERS = 100;
/** The service's own settings (its loader, its defaults), as the pipeline alone is run here. */
const config: Config = loadConfig(
  {
    THREADS: String(THREADS),
    COURIERS: '1024',
    ORDER_TIMEOUT_MS: '60000',
    IDEMPOTENCY_TTL_MS: '0',
    ORDER_RECORDS_MAX_MB: '0',
    MAX_INFLIGHT: '20000',
    LOG_LEVEL: 'silent',
    METRICS: 'off',
  },
  { openFileLimit: undefined },
);
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
  const { runner, tracker } = await inlineStepRunner(steps, {
    couriers: config.couriers,
    keepMs: config.idempotencyTtlMs,
    log,
  });
  return {
    pipeline: new OrderPipeline(steps, runner, {
      timeoutMs: config.orderTimeoutMs,
      compensationTimeoutMs: config.refundTimeoutMs,
    }),
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
  // The overhead scenario's orders and clients, without HTTP (and with couriers enough for all).
  { name: 'I/O only: 1 ms delays', concurrency: 50, delayMs: 1, cpuMs: 0 },
  { name: 'I/O only: 10 ms delays', concurrency: 200, delayMs: 10, cpuMs: 0 },
  { name: 'CPU: 5 ms per step', concurrency: 16, delayMs: 0, cpuMs: 5 },
  { name: 'CPU: 20 ms per step', concurrency: 16, delayMs: 0, cpuMs: 20 },
];

const perStep = (ms: number): PerStep<number> => everyStep(ms);
const order = (id: string, workload: Workload): Order => ({
  client: ANONYMOUS,
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
  // Process-wide: every thread, the workers' and V8's helpers' included.
  const cpuBefore = process.cpuUsage();
  const threadsBefore = cpuByThreadOf(process.pid);
  await Promise.all(
    Array.from({ length: workload.concurrency }, async () => {
      while (performance.now() < until) {
        // Sent now; started once the event loop gets to it, as a request would be.
        const sent = performance.now();
        await new Promise((resolve) => setImmediate(resolve));
        const result = await pipeline.process(
          runOf(order(`bench-${next++}`, workload), 1),
          new AbortController().signal,
          trace,
        );
        if (result.failure) throw new Error(`order failed: ${result.failure}`);
        latencies.push(performance.now() - sent);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const threadsAfter = cpuByThreadOf(process.pid);
  // By thread (/proc, 10 ms ticks): NaN where the threads cannot be read.
  const byThread =
    threadsBefore && threadsAfter
      ? cpuPerOrderByThread(threadsBefore, threadsAfter, (cpu.user + cpu.system) / 1e6, latencies.length)
      : undefined;
  loopDelay.disable();
  latencies.sort((a, b) => a - b);
  return {
    ordersPerSec: Math.round(latencies.length / elapsed),
    cpuUsPerOrder: Math.round((cpu.user + cpu.system) / latencies.length),
    mainThreadUsPerOrder: byThread?.mainThread ?? NaN,
    workerThreadsUsPerOrder: byThread?.workerThreads ?? NaN,
    v8HelpersUsPerOrder: byThread?.v8Helpers ?? NaN,
    p99Ms: Number(percentile(latencies, 99).toFixed(1)),
    loopDelayP99Ms: Number((loopDelay.percentile(99) / 1e6).toFixed(1)),
  };
}

/** Abort an order whose three steps are asleep; time each step's exit in its thread from the abort. */
async function cancelLatency(make: typeof onThePool, orders: number): Promise<number[]> {
  const probe: StepDefinition[] = DEFAULT_STEPS.map((step) => ({
    name: step.name,
    module: compiledModule('load/measure/fixtures/cancel-probe-step').href,
  }));
  const runner = await make(probe);
  const exits = new Map<string, bigint[]>();
  const channel = new BroadcastChannel('cancel-probe');
  channel.onmessage = (event) => {
    const { orderId, exitedAt } = (event as { data: ProbeExit }).data;
    exits.set(orderId, [...(exits.get(orderId) ?? []), exitedAt]);
  };
  const latencies: number[] = [];
  try {
    for (let n = 0; n < orders; n++) {
      const client = new AbortController();
      const id = `cancel-${n}`;
      const answered = runner.pipeline.process(
        runOf(order(id, { name: '', concurrency: 1, delayMs: 0, cpuMs: 0 }), 1),
        client.signal,
        trace,
      );
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
async function bareWakeLatency(wakes: number): Promise<number[]> {
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
    for (let n = 0; n < wakes; n++) {
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
async function memoryInFlight(
  count: number,
): Promise<{ rssGrowthMb: number; perOrderKb: number; perOrderHeapKb: number }> {
  const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const runner = await onThePool();
  await drive(runner.pipeline, { name: '', concurrency: 8, delayMs: 0, cpuMs: 0 }, 1);
  collect();
  const before = process.memoryUsage();
  const clients = Array.from({ length: count }, () => new AbortController());
  const waiting: Workload = { name: '', concurrency: 1, delayMs: 60_000, cpuMs: 0 };
  const orders = clients.map((client, i) =>
    runner.pipeline.process(runOf(order(`memory-${i}`, waiting), 1), client.signal, trace),
  );
  while (runner.running() < count * 3) await new Promise((resolve) => setTimeout(resolve, 20));
  collect();
  const during = process.memoryUsage();
  for (const client of clients) client.abort(new OrderAborted('client_gone'));
  await Promise.all(orders);
  await runner.close();
  return {
    rssGrowthMb: Math.round((during.rss - before.rss) / 1048576),
    perOrderKb: Math.round((during.rss - before.rss) / count / 1024),
    perOrderHeapKb: Number(((during.heapUsed - before.heapUsed) / count / 1024).toFixed(1)),
  };
}

/**
 * The memory figure, measured in a process of its own: memory a process has
 * freed stays resident, so in the process that ran the workloads (or an
 * earlier round) 10,000 orders fit in pages it already holds, and the growth
 * read 2 KB per order, or less than nothing.
 */
async function memoryInFreshProcess(): Promise<Awaited<ReturnType<typeof memoryInFlight>>> {
  const args = [
    '--expose-gc',
    fileURLToPath(import.meta.url),
    '--memory-only',
    '--in-flight',
    String(IN_FLIGHT),
    '--threads',
    String(THREADS),
  ];
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 1 << 20 });
  const last = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as Awaited<ReturnType<typeof memoryInFlight>>;
}

type Figures = Awaited<ReturnType<typeof drive>>;
interface Round {
  /** Per workload, in WORKLOADS order. */
  readonly workloads: ReadonlyArray<{ readonly pool: Figures; readonly inline: Figures }>;
  readonly cancel: Readonly<Record<string, { p50Ms: number; p99Ms: number; maxMs: number; samples: number }>>;
  readonly memory: Awaited<ReturnType<typeof memoryInFlight>>;
}

const summarizeLatencies = (latencies: number[]) => ({
  p50Ms: percentile(latencies, 50),
  p99Ms: percentile(latencies, 99),
  maxMs: latencies.at(-1) ?? NaN,
  samples: latencies.length,
});

/** One round: every workload on the pool, then inline (a pair measured back to back), then cancellation and memory. */
async function round(): Promise<Round> {
  const workloads = [];
  for (const workload of WORKLOADS) {
    const figures: Partial<Record<keyof typeof RUNNERS, Figures>> = {};
    for (const [name, make] of Object.entries(RUNNERS) as Array<[keyof typeof RUNNERS, typeof onThePool]>) {
      const runner = await make();
      await drive(runner.pipeline, workload, 1); // warm-up: threads started, code compiled
      figures[name] = await drive(runner.pipeline, workload, SECONDS);
      await runner.close();
      progress(
        `  ${workload.name}, ${name}: ${figures[name].ordersPerSec.toLocaleString('en')} orders/s, p99 ${figures[name].p99Ms} ms, ${figures[name].cpuUsPerOrder} CPU µs/order`,
      );
    }
    workloads.push({ pool: figures.pool!, inline: figures.inline! });
  }
  const cancel = {
    'pool: order abort → step exits in its worker': summarizeLatencies(await cancelLatency(onThePool, CANCEL_ORDERS)),
    'inline: order abort → step exits on the main thread': summarizeLatencies(
      await cancelLatency(inline, CANCEL_ORDERS),
    ),
    'floor: bare notify → waitAsync wakes in a worker': summarizeLatencies(await bareWakeLatency(CANCEL_ORDERS * 3)),
  };
  progress(`  cancellation: pool p50 ${cancel['pool: order abort → step exits in its worker'].p50Ms.toFixed(3)} ms`);
  const memory = await memoryInFreshProcess();
  progress(`  memory: ${memory.perOrderKb} KB per order in flight`);
  return { workloads, cancel, memory };
}

if (options['memory-only']) {
  console.log(JSON.stringify(await memoryInFlight(IN_FLIGHT)));
  process.exit(0);
}

const rounds = await inRounds(ROUNDS, round);
const across = (pick: (round: Round) => number): ReturnType<typeof spreadOf> => spreadOf(rounds.map(pick));
const ms = (value: number): string => formatFigure(value);

const rows = WORKLOADS.map((workload, w) => {
  const pool = (key: keyof Figures) => across((r) => r.workloads[w]!.pool[key]);
  const onMain = (key: keyof Figures) => across((r) => r.workloads[w]!.inline[key]);
  const ratio = spreadOf(pairRatios(pool('ordersPerSec').values, onMain('ordersPerSec').values));
  // A step's CPU work spins until its time has passed on the clock: on CPU workloads the figure would be the spin's.
  const cpuShown = (figure: () => string): string => (workload.cpuMs > 0 ? '–' : figure());
  return {
    workload: workload.name,
    clients: workload.concurrency,
    'pool orders/s': formatSpread(pool('ordersPerSec')),
    'inline orders/s': formatSpread(onMain('ordersPerSec')),
    'pool ÷ inline': formatRatio(ratio),
    'CPU µs/order pool': cpuShown(() => formatSpread(pool('cpuUsPerOrder'))),
    'CPU µs/order inline': cpuShown(() => formatSpread(onMain('cpuUsPerOrder'))),
    'CPU pool ÷ inline': cpuShown(() =>
      formatRatio(spreadOf(pairRatios(pool('cpuUsPerOrder').values, onMain('cpuUsPerOrder').values))),
    ),
    'p99 ms pool': formatSpread(pool('p99Ms'), ms),
    'p99 ms inline': formatSpread(onMain('p99Ms'), ms),
    'loop delay p99 ms pool': formatSpread(pool('loopDelayP99Ms'), ms),
    'loop delay p99 ms inline': formatSpread(onMain('loopDelayP99Ms'), ms),
  };
});
/** Where the CPU per order goes, by kind of thread, on the I/O workloads (a computing step's spin is its own). */
const threadRows = WORKLOADS.flatMap((workload, w) => {
  if (workload.cpuMs > 0) return [];
  const figure = (runner: 'pool' | 'inline', key: keyof Figures): string =>
    formatSpread(across((r) => r.workloads[w]![runner][key]));
  return [
    {
      workload: workload.name,
      'pool: main thread': figure('pool', 'mainThreadUsPerOrder'),
      'pool: step threads': figure('pool', 'workerThreadsUsPerOrder'),
      'pool: V8 helpers': figure('pool', 'v8HelpersUsPerOrder'),
      'inline: main thread': figure('inline', 'mainThreadUsPerOrder'),
      'inline: V8 helpers': figure('inline', 'v8HelpersUsPerOrder'),
    },
  ];
});
const cancelRows = Object.keys(rounds[0]!.cancel).map((what) => ({
  what,
  'samples per round': rounds[0]!.cancel[what]!.samples,
  'p50 ms': formatSpread(across((r) => r.cancel[what]!.p50Ms)),
  'p99 ms': formatSpread(across((r) => r.cancel[what]!.p99Ms)),
  'max ms': formatSpread(across((r) => r.cancel[what]!.maxMs)),
}));
const memoryRow = {
  'orders in flight': IN_FLIGHT,
  'RSS growth (MB)': formatSpread(across((r) => r.memory.rssGrowthMb)),
  'per order, whole process (KB)': formatSpread(across((r) => r.memory.perOrderKb)),
  'per order, main-thread heap (KB)': formatSpread(across((r) => r.memory.perOrderHeapKb)),
};

console.log(
  `Node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), THREADS=${THREADS}, ${SECONDS} s per run; median (min–max) of ${ROUNDS} rounds, ratios pair by pair within a round`,
);
console.table(rows);
console.log(
  'CPU µs per order by thread (/proc, every thread of the process; the rest, libuv and threads that ended, left out)',
);
console.table(threadRows);
console.log(
  'Cancellation: from the abort on the main thread to the sleeping step leaving its sleep (process-wide monotonic clock); per round p50, p99, max',
);
console.table(cancelRows);
console.log(`Memory: ${IN_FLIGHT.toLocaleString('en')} orders in flight, every step waiting (no HTTP)`);
console.table([memoryRow]);

const results = projectFile('load/results/');
mkdirSync(results, { recursive: true });
writeFileSync(
  new URL('bench-latest.json', results),
  JSON.stringify(
    {
      at: new Date().toISOString(),
      threads: THREADS,
      seconds: SECONDS,
      rounds,
      summary: { workloads: rows, byThread: threadRows, cancel: cancelRows, memory: memoryRow },
    },
    null,
    2,
  ),
);
