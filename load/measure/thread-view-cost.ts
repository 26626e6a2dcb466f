/**
 * What an open thread view costs the service: the `overhead` scenario's
 * orders against one server with no page open and with one page open (a
 * client reading GET /threads/events, as a browser's EventSource does),
 * several rounds, the two phases of a round in turn first (closed, open;
 * then open, closed) so that a drift within a round favours neither.
 *
 * Two figures each, as measure:observability: the main thread's CPU time
 * per order at a fixed rate — the main thread is what limits throughput —
 * and the saturated throughput. Open ÷ closed is taken within each round.
 * Also the frames the page received per second under that load, and their
 * size.
 *
 * And, directly, what one frame costs the main thread — the snapshot and its
 * serialization, timed in this process on the order engine with orders
 * asleep on its threads (the end-to-end figures swing ±20% here; this one
 * only gets slower on a busy machine, never hides the cost).
 *
 *   npm run measure:view
 *   npm run measure:view -- --rounds 5 --seconds 6
 */
import { pino } from 'pino';
import { createOrderEngine } from '../../src/composition/engine.js';
import { loadConfig } from '../../src/config.js';
import { DEFAULT_DELAY_MS, everyStep, type Order } from '../../src/domain/order.js';
import { openEventStream } from '../lib/event-stream.js';
import { driveOverhead, mainThreadCpuSeconds, overhead } from './overhead-orders.js';
import { parseCommandLine } from '../lib/command-line.js';
import { formatRatio, formatSpread, inRounds, pairRatios, progress, roundsOption, spreadOf } from '../lib/rounds.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { serverLog } from './server-logs.js';
import { ANONYMOUS } from '../../src/auth/caller.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure:view --',
    summary: [
      "What an open thread view costs: the overhead scenario's orders with no page open and with one page's event stream open,",
      'in turn on one server per round: main-thread CPU per order at a fixed rate, saturated orders/s, frames received per second.',
    ].join('\n'),
  },
  {
    rounds: roundsOption(5),
    seconds: { type: 'integer', default: 4, help: 'seconds of each phase: fixed rate, saturated' },
    rate: { type: 'integer', default: 600, help: 'orders/s of the fixed-rate phase' },
    'in-flight': {
      type: 'strings',
      placeholder: 'N',
      help: 'orders asleep on the threads while one frame is timed (default 50, 1000, 3000)',
    },
    frames: { type: 'integer', default: 50, help: 'frames timed per round and number in flight' },
  },
);
const { rate: RATE, seconds: SECONDS } = options;
const IN_FLIGHT = options['in-flight'].length > 0 ? options['in-flight'].map(Number) : [50, 1000, 3000];
/** How long every step of the orders may take to start; beyond it the figure is left out (see below). */
const START_WITHIN_MS = 30_000;
/** Frames a second the stream sends. */
const FRAME_RATE = 5;

const runTag = Date.now().toString(36);
const drive = (server: ServerProcess, rate: number | undefined, seconds = SECONDS) =>
  driveOverhead(server, seconds, rate);

type Mode = 'closed' | 'open';
interface Phase {
  readonly cpuUsPerOrder: number;
  readonly ordersPerSecond: number;
  /** Open only: frames received per second over both phases, and their mean size. */
  readonly framesPerSecond?: number;
  readonly frameKb?: number;
}

async function phase(server: ServerProcess, mode: Mode): Promise<Phase> {
  const stream = mode === 'open' ? await openEventStream<unknown>(new URL('/threads/events', server.url)) : undefined;
  const started = performance.now();
  const framesBefore = stream?.frames.length ?? 0;
  try {
    const cpuBefore = mainThreadCpuSeconds(server);
    const paced = await drive(server, RATE);
    const cpuUsPerOrder = ((mainThreadCpuSeconds(server) - cpuBefore) / paced.requests) * 1e6;
    const ordersPerSecond = (await drive(server, undefined)).perSecond;
    if (!stream) return { cpuUsPerOrder, ordersPerSecond };
    const frames = stream.frames.slice(framesBefore);
    const bytes = frames.reduce((sum, frame) => sum + JSON.stringify(frame.data).length, 0);
    return {
      cpuUsPerOrder,
      ordersPerSecond,
      framesPerSecond: frames.length / ((performance.now() - started) / 1000),
      frameKb: bytes / frames.length / 1024,
    };
  } finally {
    stream?.close();
  }
}

/** Per number of orders in flight: µs of main thread per frame, and its size in KB. */
async function frameCost(): Promise<Map<number, { us: number; kb: number }>> {
  const config = loadConfig({ THREADS: '2', ORDER_TIMEOUT_MS: '60000', MAX_INFLIGHT: String(Math.max(...IN_FLIGHT)) });
  const engine = createOrderEngine(config, pino({ level: 'silent' }));
  const costs = new Map<number, { us: number; kb: number }>();
  try {
    for (const inFlight of IN_FLIGHT) {
      const client = new AbortController();
      const asleep: Order = {
        client: ANONYMOUS,
        orderId: '',
        amount: 1,
        failStep: undefined,
        failCompensation: false,
        delayMs: { ...DEFAULT_DELAY_MS, ...everyStep(60_000) },
        cpuMs: everyStep(0),
      };
      const orders = Array.from({ length: inFlight }, (_, i) =>
        engine.pipeline.process(
          { order: { ...asleep, orderId: `frame-${runTag}-${inFlight}-${i}` }, runNumber: 1 },
          client.signal,
          { requestId: 'measure' },
        ),
      );
      // Every step asleep on its thread first. With many thousands dispatched at
      // once, one thread's first steps have been seen to start 20 s late (its
      // event loop idle meanwhile): a figure that cannot be measured is left out.
      const deadline = performance.now() + START_WITHIN_MS;
      while (engine.health().running_steps < inFlight * 3 && performance.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      if (engine.health().running_steps < inFlight * 3) {
        progress(
          `  ${inFlight} orders: not every step started within ${START_WITHIN_MS / 1000} s (${engine.health().running_steps} of ${inFlight * 3}); left out`,
        );
        client.abort();
        await Promise.all(orders);
        continue;
      }
      let bytes = 0;
      const started = performance.now();
      for (let frame = 0; frame < options.frames; frame++)
        bytes += `data: ${JSON.stringify(engine.threadView())}\n\n`.length;
      costs.set(inFlight, {
        us: ((performance.now() - started) / options.frames) * 1000,
        kb: bytes / options.frames / 1024,
      });
      client.abort();
      await Promise.all(orders);
    }
  } finally {
    await engine.close();
  }
  return costs;
}

const frameRounds = await inRounds(options.rounds, async () => {
  const costs = await frameCost();
  progress(`  one frame: ${[...costs].map(([n, { us }]) => `${n} orders in flight ${us.toFixed(0)} µs`).join(', ')}`);
  return costs;
});

const rounds = await inRounds(options.rounds, async (index) => {
  const server = await startServerProcess({ ...overhead.serverEnv }, { logFile: serverLog(`round-${index}`) });
  const round = {} as Record<Mode, Phase>;
  try {
    await drive(server, 300, 3); // warm-up
    const order: Mode[] = index % 2 === 1 ? ['closed', 'open'] : ['open', 'closed'];
    for (const mode of order) {
      round[mode] = await phase(server, mode);
      const { cpuUsPerOrder, ordersPerSecond, framesPerSecond } = round[mode];
      progress(
        `  ${mode}: ${cpuUsPerOrder.toFixed(0)} µs/order, ${ordersPerSecond.toFixed(0)} orders/s${framesPerSecond ? `, ${framesPerSecond.toFixed(1)} frames/s` : ''}`,
      );
    }
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  return round;
});

const across = (mode: Mode, key: keyof Phase) => spreadOf(rounds.map((round) => round[mode][key] ?? NaN));
const ratio = (key: 'cpuUsPerOrder' | 'ordersPerSecond') =>
  formatRatio(spreadOf(pairRatios(across('open', key).values, across('closed', key).values)));
console.log(`median (min–max) of ${options.rounds} rounds; open ÷ closed taken within each round`);
console.table([
  {
    'thread view': 'no page open',
    'main-thread CPU per order (µs)': formatSpread(across('closed', 'cpuUsPerOrder')),
    'saturated orders/s': formatSpread(across('closed', 'ordersPerSecond')),
  },
  {
    'thread view': 'one page open',
    'main-thread CPU per order (µs)': formatSpread(across('open', 'cpuUsPerOrder')),
    'saturated orders/s': formatSpread(across('open', 'ordersPerSecond')),
  },
  {
    'thread view': 'open ÷ closed, round by round',
    'main-thread CPU per order (µs)': ratio('cpuUsPerOrder'),
    'saturated orders/s': ratio('ordersPerSecond'),
  },
]);
console.log(
  `\none frame (snapshot + JSON), main-thread time, median (min–max) of ${options.rounds} rounds of ${options.frames} frames:`,
);
console.table(
  IN_FLIGHT.map((inFlight) => {
    const us = spreadOf(frameRounds.map((costs) => costs.get(inFlight)?.us ?? NaN));
    return {
      'orders in flight': inFlight,
      'µs per frame': formatSpread(us),
      [`share of the main thread at ${FRAME_RATE} frames/s`]: `${((us.median * FRAME_RATE) / 1e4).toFixed(2)}%`,
      'KB per frame': formatSpread(spreadOf(frameRounds.map((costs) => costs.get(inFlight)?.kb ?? NaN))),
    };
  }),
);
console.log(
  `frames received under that load: ${formatSpread(across('open', 'framesPerSecond'))} per second, ${formatSpread(across('open', 'frameKb'))} KB each`,
);
