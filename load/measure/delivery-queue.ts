/**
 * graphile-worker or pg-boss for webhook delivery: jobs a second, CPU per job, commit to start?
 * Kept in: docs/decisions/graphile-worker-over-pg-boss.md
 *
 * Each queue as delivery uses it (or would): a job per order, serial per
 * order — graphile-worker's named queue per order, pg-boss's
 * `key_strict_fifo` queue keyed by order — 16 jobs at once, LISTEN/NOTIFY
 * on (pg-boss: `useListenNotify`, a `notify` queue). The handler does
 * nothing: what is measured is the queue. On a fresh database of a
 * throwaway Postgres (fsync on) per queue and round, alternating.
 *
 * - Throughput: --jobs jobs added in one statement, then the worker started:
 *   jobs a second until the last is done, and this process's CPU per job
 *   (the queue's client side: what the delivery thread pays).
 * - Latency: with the worker idle, a job added every 20 ms, each committed
 *   alone (graphile-worker: `add_job` in SQL, as the outbox's trigger does;
 *   pg-boss: `send`, its way): from the commit's answer to the handler.
 *
 * - With --left-queues N, graphile-worker a third time, beside N empty named
 *   queues, one per order done, as graphile-worker keeps them after their
 *   last job and the service sweeps them (webhook_sweep_queues): each claim
 *   locks every queue not locked.
 *
 * - With --waiting-lanes N, graphile-worker twice more, beside N lanes each
 *   waiting an hour for a retry, as a flood's failing endpoints leave them:
 *   each in its order's queue, then parked in none (pg-webhook-lanes.ts,
 *   PARK_FROM_MS).
 *
 *   npm run measure -- delivery-queue --rounds 3 --jobs 3000
 *   npm run measure -- delivery-queue --rounds 3 --jobs 600 --left-queues 50000
 *   npm run measure -- delivery-queue --rounds 3 --jobs 600 --latency 50 --waiting-lanes 5000
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { Logger, run, runMigrations } from 'graphile-worker';
import { PgBoss } from 'pg-boss';
import { startThrowawayServer } from '../../scripts/postgres/throwaway.js';
import { parseCommandLine } from '../lib/command-line.js';
import { formatSpread, inRounds, progress, roundsOption, spreadOf } from '../lib/rounds.js';
import { percentile } from '../lib/stats.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- delivery-queue',
    summary: 'graphile-worker against pg-boss: jobs a second, client CPU per job, commit to handler (p50, p99).',
  },
  {
    rounds: roundsOption(3),
    jobs: { type: 'integer', default: 3000, help: 'jobs of the throughput phase' },
    latency: { type: 'integer', default: 150, help: 'jobs of the latency phase, one every 20 ms' },
    'left-queues': { type: 'integer', default: 0, help: 'graphile-worker once more, beside this many empty queues' },
    'waiting-lanes': {
      type: 'integer',
      default: 0,
      help: 'graphile-worker twice more, beside this many lanes waiting an hour: in their queues, then parked',
    },
  },
);

const CONCURRENCY = 16;
const LEFT = `graphile-worker, ${options['left-queues']} queues left`;
const WAITING = `graphile-worker, ${options['waiting-lanes']} lanes waiting in queues`;
const PARKED = `graphile-worker, ${options['waiting-lanes']} lanes parked`;
const QUEUES = [
  'graphile-worker',
  'pg-boss',
  ...(options['left-queues'] > 0 ? [LEFT] : []),
  ...(options['waiting-lanes'] > 0 ? [WAITING, PARKED] : []),
];
type QueueName = string;

/** A queue under test: its worker started with `handle` called at each job, its jobs added, stopped. */
interface Queue {
  work(handle: (order: string) => void): Promise<void>;
  addMany(orders: readonly string[]): Promise<void>;
  addOne(order: string): Promise<void>;
  stop(): Promise<void>;
}

/** Beside the jobs measured: empty queues left over, lanes waiting for a retry (each in its queue, or parked). */
interface Beside {
  readonly leftQueues: number;
  readonly waitingLanes: number;
  readonly parked: boolean;
}

async function graphile(url: string, { leftQueues, waitingLanes, parked }: Beside): Promise<Queue> {
  const logger = new Logger(() => () => {});
  await runMigrations({ connectionString: url, logger });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(
    `INSERT INTO graphile_worker._private_job_queues (queue_name) SELECT 'webhook:acme:done-' || n FROM generate_series(1, $1::int) AS n`,
    [leftQueues],
  );
  await client.query(
    `SELECT graphile_worker.add_job('lane', json_build_object('order', o), queue_name := CASE WHEN $2 THEN NULL ELSE 'webhook:' || o END,
              job_key := 'webhook:' || o, run_at := now() + interval '1 hour', max_attempts := 32767)
       FROM (SELECT 'acme:waiting-' || n AS o FROM generate_series(1, $1::int) AS n) AS waiting`,
    [waitingLanes, parked],
  );
  let runner: Awaited<ReturnType<typeof run>> | undefined;
  const add = `graphile_worker.add_job('lane', json_build_object('order', o), queue_name := 'webhook:' || o,
                 job_key := 'webhook:' || o, job_key_mode := 'replace', max_attempts := 32767)`;
  return {
    async work(handle) {
      runner = await run({
        connectionString: url,
        concurrency: CONCURRENCY,
        maxPoolSize: 4,
        noHandleSignals: true,
        pollInterval: 1000,
        logger,
        taskList: { lane: async (payload) => handle((payload as { order: string }).order) },
      });
    },
    addMany: async (orders) => void (await client.query(`SELECT ${add} FROM unnest($1::text[]) AS o`, [orders])),
    addOne: async (order) => void (await client.query(`SELECT ${add} FROM (SELECT $1::text AS o) AS one`, [order])),
    async stop() {
      await runner?.stop();
      await client.end();
    },
  };
}

async function pgBoss(url: string): Promise<Queue> {
  const boss = new PgBoss({ connectionString: url, max: 4, useListenNotify: true });
  boss.on('error', () => {});
  await boss.start();
  await boss.createQueue('lane', { policy: 'key_strict_fifo', notify: true });
  return {
    async work(handle) {
      // Its fastest way through a backlog: batches, fetched without a pause while they come back full (a job a
      // fetch waits out the polling interval after each: ~1 job/s); the jobs of a batch are handled together.
      await boss.work<{ order: string }>(
        'lane',
        { batchSize: CONCURRENCY, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 },
        async (jobs) => {
          for (const job of jobs) handle(job.data.order);
        },
      );
    },
    addMany: async (orders) =>
      void (await boss.insert(
        'lane',
        orders.map((order) => ({ data: { order }, singletonKey: order })),
      )),
    addOne: async (order) => void (await boss.send('lane', { order }, { singletonKey: order })),
    stop: () => boss.stop({ graceful: true, timeout: 10_000 }),
  };
}

const database = await startThrowawayServer({ durable: true });
let databases = 0;
async function freshDatabase(): Promise<string> {
  const admin = new pg.Client({ connectionString: database.url() });
  await admin.connect();
  const name = `queue_${++databases}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return database.url(name);
}

const orders = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `acme:${prefix}-${i}`);

async function measure(name: QueueName, round: number) {
  const url = await freshDatabase();
  const queue = await (name === 'pg-boss'
    ? pgBoss(url)
    : graphile(url, {
        leftQueues: name === LEFT ? options['left-queues'] : 0,
        waitingLanes: name === WAITING || name === PARKED ? options['waiting-lanes'] : 0,
        parked: name === PARKED,
      }));
  try {
    // Throughput: a backlog, then the worker.
    let done = 0;
    let allDone!: () => void;
    const drained = new Promise<void>((resolve) => (allDone = resolve));
    const started = new Map<string, number>();
    await queue.addMany(orders(`burst${round}`, options.jobs));
    const cpuBefore = process.cpuUsage();
    const startedAt = performance.now();
    await queue.work((order) => {
      started.set(order, performance.now());
      if (++done === options.jobs) allDone();
    });
    await drained;
    const seconds = (performance.now() - startedAt) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    // Latency: one job at a time, the worker idle.
    const latencies: number[] = [];
    for (const order of orders(`one${round}`, options.latency)) {
      await queue.addOne(order);
      const committedAt = performance.now();
      const deadline = committedAt + 10_000;
      while (!started.has(order) && performance.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 1));
      latencies.push((started.get(order) ?? deadline) - committedAt);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    latencies.sort((a, b) => a - b);
    const figures = {
      perSecond: options.jobs / seconds,
      cpuPerJobUs: (cpu.user + cpu.system) / options.jobs,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
    };
    progress(
      `  ${name}: ${figures.perSecond.toFixed(0)} jobs/s, ${figures.cpuPerJobUs.toFixed(0)} µs CPU/job, commit to handler p50 ${figures.p50.toFixed(1)} ms, p99 ${figures.p99.toFixed(1)} ms`,
    );
    return figures;
  } finally {
    await queue.stop();
  }
}

const rounds = await inRounds(options.rounds, async (round) => {
  const byQueue: Partial<Record<QueueName, Awaited<ReturnType<typeof measure>>>> = {};
  for (const name of round % 2 === 0 ? QUEUES : [...QUEUES].reverse()) byQueue[name] = await measure(name, round);
  return byQueue;
});
await database.stop();

console.log(`median (min–max) of ${options.rounds} rounds; ${options.jobs} jobs, ${CONCURRENCY} at once; fsync on`);
console.table(
  QUEUES.map((name) => {
    const of = (key: 'perSecond' | 'cpuPerJobUs' | 'p50' | 'p99') =>
      formatSpread(spreadOf(rounds.map((round) => round[name]![key])));
    return {
      queue: name,
      'jobs/s': of('perSecond'),
      'CPU µs/job': of('cpuPerJobUs'),
      'p50 ms': of('p50'),
      'p99 ms': of('p99'),
    };
  }),
);
