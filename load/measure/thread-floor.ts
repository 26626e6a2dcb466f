/**
 * What is the least CPU that running an order's steps on threads can add here, with nothing of the service?
 * Kept in: docs/measurements/2026-11-26-the-floor-of-a-hand-over.md
 *
 * The bench's 1 ms workload (`npm run measure -- bench`: three steps an order
 * that only wait 1 ms) in its barest form, at the rate the bench's pool runs
 * it (about 27,000 orders a second), twice:
 *
 * - inline: the main thread sets each step's timer itself;
 * - threads: the main thread writes each step as two integers into a
 *   SharedArrayBuffer ring of the thread the order goes to, the thread sets
 *   the timer and writes the step's end into a ring of its own back. Wake-ups
 *   are coalesced as the service's rings do: each side writes at most once a
 *   turn, and notifies only a side that is parked in `Atomics.waitAsync`.
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
import { parseCommandLine } from '../lib/command-line.js';
import { formatSpread, inRounds, roundsOption, spreadOf } from '../lib/rounds.js';

/** Records a ring holds: far more than the orders in flight ever need (50 × 3). */
const RING_RECORDS = 4096;
/** Int32 words of a record: the order's slot, the step's index. */
const RECORD_WORDS = 2;
/** A ring's words before its records: the count written, the count read, and the reader's parked flag. */
const WRITTEN = 0;
const READ = 1;
const PARKED = 2;
const HEADER_WORDS = 4;
const STEPS = 3;

/** A one-way ring of integer records between two threads: one writer, one reader. */
class Ring {
  readonly words: Int32Array;
  private pending = 0;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
  }

  static create(): Ring {
    return new Ring(new SharedArrayBuffer((HEADER_WORDS + RING_RECORDS * RECORD_WORDS) * 4));
  }

  /** Written now, seen by the reader at the next `publish`. */
  write(order: number, step: number): void {
    const at = HEADER_WORDS + ((Atomics.load(this.words, WRITTEN) + this.pending) % RING_RECORDS) * RECORD_WORDS;
    this.words[at] = order;
    this.words[at + 1] = step;
    this.pending++;
  }

  /** Once a turn: make this turn's records visible, and wake the reader only if it is parked. */
  publish(): void {
    if (this.pending === 0) return;
    Atomics.add(this.words, WRITTEN, this.pending);
    this.pending = 0;
    if (Atomics.load(this.words, PARKED) === 1 && Atomics.compareExchange(this.words, PARKED, 1, 0) === 1)
      Atomics.notify(this.words, WRITTEN, 1);
  }

  /** Every record written and not read yet. */
  drain(each: (order: number, step: number) => void): void {
    const written = Atomics.load(this.words, WRITTEN);
    let read = Atomics.load(this.words, READ);
    for (; read !== written; read++) {
      const at = HEADER_WORDS + (read % RING_RECORDS) * RECORD_WORDS;
      each(this.words[at]!, this.words[at + 1]!);
    }
    Atomics.store(this.words, READ, read);
  }

  /** Read what there is, then park until more is written; `drain` runs in the reader's own event loop. */
  listen(onRecord: (order: number, step: number) => void): void {
    const turn = (): void => {
      this.drain(onRecord);
      Atomics.store(this.words, PARKED, 1);
      const seen = Atomics.load(this.words, READ);
      const wait = Atomics.waitAsync(this.words, WRITTEN, seen);
      if (wait.async) void wait.value.then(turn);
      else {
        Atomics.store(this.words, PARKED, 0);
        setImmediate(turn);
      }
    };
    turn();
  }
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
  const endRing = new Ring(ends);
  let publishing = false;
  const publish = (): void => {
    publishing = false;
    endRing.publish();
  };
  new Ring(tasks).listen((order, step) => {
    setTimeout(() => {
      endRing.write(order, step);
      if (!publishing) {
        publishing = true;
        setImmediate(publish);
      }
    }, delayMs);
  });
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
    readonly name: string;
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
      name: 'inline',
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
        const tasks = Ring.create();
        const ends = Ring.create();
        const setup: ThreadSetup = { tasks: tasks.buffer, ends: ends.buffer, delayMs };
        const worker = new Worker(new URL(import.meta.url), { workerData: setup });
        await once(worker, 'online');
        return { tasks, ends, worker };
      }),
    );
    let publishing = false;
    const publish = (): void => {
      publishing = false;
      for (const { tasks } of threads) tasks.publish();
    };
    const runner: Runner = {
      name: 'threads',
      start(order) {
        const { tasks } = threads[order % threads.length]!;
        for (let step = 0; step < STEPS; step++) tasks.write(order, step);
        if (!publishing) {
          publishing = true;
          setImmediate(publish);
        }
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
    for (const { ends } of threads) ends.listen((order) => stepEnded(order));
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
