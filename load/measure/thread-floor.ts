/**
 * What is the least CPU that running an order's steps on threads can add here, with nothing of the service?
 * Kept in: docs/decisions/steps-through-rings.md
 *
 * The bench's 1 ms workload (`npm run measure -- bench`: three steps an order
 * that only wait 1 ms) in its barest form, at the rate the bench's pool runs
 * it (about 27,000 orders a second), twice:
 *
 * - inline: the main thread sets each step's timer itself;
 * - threads: the main thread writes each step as two integers into the
 *   ring of the thread the order goes to, the thread sets the timer and
 *   writes the step's end into a ring of its own back. The rings are the
 *   service's own (src/shared-memory/word-ring.ts), used as its step rings
 *   use them: each side publishes once a turn, and wakes only a reader that
 *   is waiting.
 *
 * No validation, no records, no ledger, no logs, no promise per step: what is
 * left between the two is the price of the hand-over itself — the rings, the
 * threads' own event-loop turns, their sleeps and wake-ups. The service's
 * pool can cost no less than this above its inline runner.
 *
 * Orders arrive at a set rate, not in a closed loop: in a closed loop each
 * runner would set its own rate (a 1 ms timer set late in a long turn fires
 * early, and how early depends on the runner), and CPU an order depends on
 * the rate as much as on the runner.
 *
 *   npm run measure -- thread-floor
 *   npm run measure -- thread-floor --rounds 5 --threads 1
 */
import { once } from 'node:events';
import { setTimeout as milliseconds } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { RingReader, WordRing } from '../../src/shared-memory/word-ring.js';
import { parseCommandLine } from '../lib/command-line.js';
import { formatSpread, inRounds, roundsOption, spreadOf } from '../lib/rounds.js';

/** Words of each ring's data: far more than the steps in flight ever need (about 250 at 27,000 orders a second). */
const RING_WORDS = 1 << 15;
const STEPS = 3;

/** Each record: the order's slot, the step's index. */
function writeStep(ring: WordRing, order: number, step: number): void {
  const at = ring.begin(2);
  if (at === -1) throw new Error("a ring is full: its reader is that far behind; the measurement's rate is too high");
  ring.words[at] = order;
  ring.words[at + 1] = step;
  ring.end();
}

/** `action` once at the end of this turn of the event loop, however often it is asked for within it. */
function oncePerTurn(action: () => void): () => void {
  let asked = false;
  const run = (): void => {
    asked = false;
    action();
  };
  return () => {
    if (asked) return;
    asked = true;
    setImmediate(run);
  };
}

/** The turn's records out, and the reader woken if it waits. */
function publishAndWake(ring: WordRing): void {
  ring.publish();
  ring.wake();
}

interface ThreadSetup {
  readonly tasks: SharedArrayBuffer;
  readonly ends: SharedArrayBuffer;
  readonly delayMs: number;
}

if (!isMainThread) stepThread(workerData as ThreadSetup);
else await main();

/** A step thread: a timer for each step it is handed, its end written back once a turn. */
function stepThread({ tasks, ends, delayMs }: ThreadSetup): void {
  const endRing = new WordRing(ends);
  const taskRing = new WordRing(tasks);
  const publishEnds = oncePerTurn(() => publishAndWake(endRing));
  new RingReader(taskRing, (at) => {
    const order = taskRing.words[at]!;
    const step = taskRing.words[at + 1]!;
    setTimeout(() => {
      writeStep(endRing, order, step);
      publishEnds();
    }, delayMs);
  }).look();
  parentPort!.on('message', (message: string) => {
    if (message !== 'cpu') return;
    const { user, system } = process.threadCpuUsage();
    parentPort!.postMessage(user + system);
  });
  // Keeps the thread's event loop alive between rings' wake-ups.
  setInterval(() => {}, 1 << 30);
}

async function main(): Promise<void> {
  const { values: options } = parseCommandLine(
    {
      command: 'npm run measure -- thread-floor',
      summary:
        "CPU-µs an order of the bench's 1 ms workload in its barest form: steps timed on the main thread, against steps handed to threads through rings.",
    },
    {
      rounds: roundsOption(3),
      seconds: {
        type: 'integer',
        default: 4,
        min: 1,
        help: 'seconds measured per runner and round (after 2 s of warm-up)',
      },
      threads: { type: 'integer', default: 2, min: 1, help: 'step threads (the bench runs 2)' },
      rate: { type: 'integer', default: 27_000, min: 1, help: "orders a second (the bench's pool: about 27,000)" },
      'delay-ms': { type: 'integer', default: 1, min: 0, help: "each step's wait (the bench's workload: 1)" },
    },
  );
  const delayMs = options['delay-ms'];

  /** Each order's steps still running, by its number modulo SLOTS; an order ends when its count reaches 0. */
  const SLOTS = 1 << 16;
  const stepsLeft = new Int32Array(SLOTS);
  let ordersDone = 0;

  /** A runner: how an order's steps are started; each step's end calls `stepEnded`. */
  interface Runner {
    start(order: number): void;
    threadsCpuUs(): Promise<number>;
    close(): Promise<void>;
  }

  const stepEnded = (order: number): void => {
    if (--stepsLeft[order]! === 0) ordersDone++;
  };

  /** Orders at `options.rate` a second, each tick of a 1 ms interval starting those due since the last; stop() ends it. */
  function arrivals(runner: Runner): { stop(): void } {
    const startedAt = performance.now();
    let started = 0;
    const tick = setInterval(() => {
      const due = Math.floor(((performance.now() - startedAt) * options.rate) / 1000);
      for (; started < due; started++) {
        const order = started % SLOTS;
        stepsLeft[order] = STEPS;
        runner.start(order);
      }
    }, 1);
    return { stop: () => clearInterval(tick) };
  }

  function inlineRunner(): Runner {
    const runner: Runner = {
      start(order) {
        for (let step = 0; step < STEPS; step++) setTimeout(() => stepEnded(order), delayMs);
      },
      threadsCpuUs: async () => 0,
      close: async () => {},
    };
    return runner;
  }

  async function threadRunner(): Promise<Runner> {
    const threads = await Promise.all(
      Array.from({ length: options.threads }, async () => {
        const tasks = WordRing.create(RING_WORDS);
        const ends = WordRing.create(RING_WORDS);
        const setup: ThreadSetup = { tasks: tasks.buffer, ends: ends.buffer, delayMs };
        const worker = new Worker(new URL(import.meta.url), { workerData: setup });
        await once(worker, 'online');
        return { tasks, ends, worker };
      }),
    );
    const publishTasks = oncePerTurn(() => {
      for (const { tasks } of threads) publishAndWake(tasks);
    });
    const runner: Runner = {
      start(order) {
        const { tasks } = threads[order % threads.length]!;
        for (let step = 0; step < STEPS; step++) writeStep(tasks, order, step);
        publishTasks();
      },
      async threadsCpuUs() {
        const spent = await Promise.all(
          threads.map(async ({ worker }) => {
            worker.postMessage('cpu');
            const [cpu] = (await once(worker, 'message')) as [number];
            return cpu;
          }),
        );
        return spent.reduce((sum, cpu) => sum + cpu, 0);
      },
      close: async () => {
        await Promise.all(threads.map(({ worker }) => worker.terminate()));
      },
    };
    for (const { ends } of threads) new RingReader(ends, (at) => stepEnded(ends.words[at]!)).look();
    return runner;
  }

  const cpuUs = (usage: NodeJS.CpuUsage): number => usage.user + usage.system;

  /** CPU-µs an order over `seconds` after 2 s of warm-up: the process's, and the main thread's and the threads' parts. */
  async function measure(
    runner: Runner,
  ): Promise<{ process: number; main: number; threads: number; perSecond: number }> {
    const orders = arrivals(runner);
    await milliseconds(2000);
    const [fromProcess, fromMain, fromThreads, fromOrders] = [
      process.cpuUsage(),
      process.threadCpuUsage(),
      await runner.threadsCpuUs(),
      ordersDone,
    ];
    const startedAt = performance.now();
    await milliseconds(options.seconds * 1000);
    const done = ordersDone - fromOrders;
    const [spentProcess, spentMain, spentThreads] = [
      cpuUs(process.cpuUsage(fromProcess)),
      cpuUs(process.threadCpuUsage(fromMain)),
      (await runner.threadsCpuUs()) - fromThreads,
    ];
    const seconds = (performance.now() - startedAt) / 1000;
    orders.stop();
    await milliseconds(100);
    await runner.close();
    return {
      process: spentProcess / done,
      main: spentMain / done,
      threads: spentThreads / done,
      perSecond: done / seconds,
    };
  }

  const rounds = await inRounds(options.rounds, async () => ({
    inline: await measure(inlineRunner()),
    threads: await measure(await threadRunner()),
  }));
  const row = (name: string, pick: (round: (typeof rounds)[number]) => number) => ({
    figure: name,
    'median (min–max)': formatSpread(spreadOf(rounds.map(pick))),
  });
  console.table([
    row('inline: CPU-µs an order (process)', (round) => round.inline.process),
    row('threads: CPU-µs an order (process)', (round) => round.threads.process),
    row('threads: of which the main thread', (round) => round.threads.main),
    row('threads: of which the step threads', (round) => round.threads.threads),
    row('threads ÷ inline', (round) => round.threads.process / round.inline.process),
    row('threads − inline (µs an order)', (round) => round.threads.process - round.inline.process),
    row('inline: orders/s', (round) => round.inline.perSecond),
    row('threads: orders/s', (round) => round.threads.perSecond),
  ]);
  console.log(
    `median (min–max) of ${options.rounds} rounds, ${options.seconds} s each after 2 s of warm-up; ${options.rate.toLocaleString('en-US')} orders a second, ${STEPS} steps of ${delayMs} ms, ${options.threads} step thread(s)`,
  );
  // The main thread's waits on the stopped threads' rings would keep it alive.
  process.exit(0);
}
