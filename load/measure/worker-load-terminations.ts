/**
 * Does a step thread terminated while it loads its entry ever bring the whole process down?
 * Kept in: docs/decisions/steps-as-piscina-tasks.md
 *
 * The service terminates a thread and replaces it by design (a hung step, a
 * shutdown), so a thread can be terminated while it still loads its entry,
 * workers/step-worker.ts. Node 26 loads that ES module through require(esm)
 * when Piscina asks for it, and wraps a module with a default export in a
 * facade whose instantiation it CHECKs: a termination that lands there
 * aborts the process (SIGABRT), every thread with it.
 *
 * Here the project's own threads, as the pool starts them (its Piscina
 * options, its worker file, real shared memory), in pools of 2 created and
 * destroyed a random delay later — a delay spread over the time a thread
 * takes to load once started, so that most terminations land during the
 * load. Each
 * child process runs pools until the terminations during load reach the
 * count asked for, between them; a child that aborts is counted and another
 * takes its place. A termination is during the load when the thread had
 * started (its 'online') and not yet said it is ready (Piscina's ready
 * message, sent once the entry's export is loaded). Exits 1 on any abort.
 *
 *   npm run measure -- worker-load-terminations
 *   npm run measure -- worker-load-terminations --terminations 3000 --processes 2
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as milliseconds } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { DEFAULT_STEPS } from '../../src/composition/steps.js';
import { compiledModule } from '../../src/paths.js';
import { modulesOf } from '../../src/pipeline/steps.js';
import { CancelCells } from '../../src/shared-memory/cancel-cells.js';
import { SlotSemaphore } from '../../src/shared-memory/slot-semaphore.js';
import { StepTracker } from '../../src/shared-memory/step-tracker.js';
import type { WorkerSetup } from '../../src/threads/protocol.js';
import { stepWorkerEntry } from '../../src/threads/worker-entry.js';
import { parseCommandLine } from '../lib/command-line.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- worker-load-terminations',
    summary:
      'Pools of 2 step threads destroyed while their threads load their entry: how many of those terminations abort the process.',
  },
  {
    terminations: { type: 'integer', default: 1000, help: 'terminations during load to reach, in all' },
    processes: { type: 'integer', default: 2, help: 'child processes terminating threads at once' },
    child: { type: 'boolean', help: '(internal) run pools and print each one’s terminations during load' },
  },
);

/** Piscina's message saying a thread has loaded its entry (piscina/dist/common.js). */
const PISCINA_READY = '_WORKER_READY';
const THREADS = 2;

if (options.child) await terminateWhileLoading();
else await main();

/** One child: pools created and destroyed, one line a pool: its terminations during load. Runs until killed. */
async function terminateWhileLoading(): Promise<void> {
  const setup: WorkerSetup = {
    cancelCells: CancelCells.create(64).buffer,
    stepTracker: StepTracker.create(THREADS).buffer,
    courierSlots: SlotSemaphore.create(2, THREADS, 64).buffer,
    logLevel: 'warn',
    stepModules: modulesOf(DEFAULT_STEPS),
  };
  const pool = (): Piscina =>
    new Piscina({
      ...stepWorkerEntry(compiledModule('workers/step-worker')),
      minThreads: THREADS,
      maxThreads: THREADS,
      idleTimeout: Infinity,
      atomics: 'async',
      execArgv: [],
      workerData: setup,
    });
  // Measured from a thread's start, not the pool's: how long a thread takes to start varies far more, on a busy
  // machine, than how long it takes to load once started. The delays are spread over the load, measured once.
  const loadMs = await timeToLoad(pool());
  for (;;) {
    const threads = watched(pool());
    await threads.online;
    await milliseconds(Math.random() * loadMs * 1.2);
    const duringLoad = threads.states.filter((state) => state.online && !state.ready).length;
    await threads.pool.destroy();
    console.log(duringLoad);
  }
}

interface ThreadState {
  online: boolean;
  ready: boolean;
}

interface Watched {
  readonly pool: Piscina;
  readonly states: readonly ThreadState[];
  /** Settled when the first of its threads has started. */
  readonly online: Promise<void>;
}

function watched(pool: Piscina): Watched {
  pool.on('error', () => {});
  const { promise: online, resolve } = Promise.withResolvers<void>();
  const states = pool.threads.map((thread) => {
    const state: ThreadState = { online: false, ready: false };
    thread.on('online', () => {
      state.online = true;
      resolve();
    });
    thread.on('message', (message: unknown) => {
      if (typeof message === 'object' && message !== null && PISCINA_READY in message) state.ready = true;
    });
    return state;
  });
  return { pool, states, online };
}

/** From the first thread's start until every thread has loaded its entry. */
async function timeToLoad(pool: Piscina): Promise<number> {
  const { states, online } = watched(pool);
  await online;
  const started = performance.now();
  while (!states.every((state) => state.ready)) await milliseconds(2);
  const loadMs = performance.now() - started;
  await pool.destroy();
  return loadMs;
}

interface ChildEnd {
  readonly aborted: boolean;
  /** The child's last lines on stderr: what Node said as it aborted. */
  readonly said: string;
}

async function main(): Promise<void> {
  let duringLoad = 0;
  let pools = 0;
  const aborts: string[] = [];
  const started = performance.now();
  const self = fileURLToPath(import.meta.url);
  const running = new Set<() => void>();

  const child = async (): Promise<void> => {
    while (duringLoad < options.terminations) {
      const end = await new Promise<ChildEnd>((resolve) => {
        const process_ = spawn(process.execPath, [self, '--child'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let said = '';
        process_.stderr.on('data', (chunk: Buffer) => (said = (said + chunk.toString()).slice(-2000)));
        const stop = (): void => void process_.kill();
        running.add(stop);
        createInterface({ input: process_.stdout }).on('line', (line) => {
          pools++;
          duringLoad += Number(line);
          if (duringLoad >= options.terminations) for (const each of running) each();
        });
        process_.on('close', (code, signal) => {
          running.delete(stop);
          resolve({ aborted: signal === 'SIGABRT' || code === 134, said });
        });
      });
      if (end.aborted) {
        aborts.push(end.said.split('\n').find((line) => /Assertion|Check failed|FATAL/.test(line)) ?? end.said);
        process.stderr.write(`abort ${aborts.length} after ${duringLoad} terminations during load\n`);
      }
    }
  };
  const summary = (): string => {
    const seconds = (performance.now() - started) / 1000;
    const lines = [
      `${duringLoad} terminations during load (${pools} pools of ${THREADS}, ${seconds.toFixed(0)} s): ${aborts.length} aborts`,
      ...[...Map.groupBy(aborts, (line) => line.trim())].map(([said, count]) => `  ${count.length} × ${said}`),
    ];
    return lines.join('\n');
  };
  // Stopped early (Ctrl-C, a timeout): what was counted until then is still the answer, so far.
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      for (const stop of running) stop();
      console.log(`${summary()} (stopped early)`);
      process.exit(aborts.length > 0 ? 1 : 0);
    });
  const progress = setInterval(() => process.stderr.write(`${summary().split('\n')[0]}\n`), 60_000);
  await Promise.all(Array.from({ length: options.processes }, child));
  clearInterval(progress);
  console.log(summary());
  process.exitCode = aborts.length > 0 ? 1 : 0;
}
