/**
 * What does tracing cost the orders, exporting every trace or a tenth?
 * Kept in: docs/decisions/side-threads.md
 *
 * What tracing costs: the `overhead` scenario's orders against a server with
 * no OTLP endpoint (trace ids only, no SDK), with one and every trace kept
 * (OTEL_TRACES_SAMPLER_ARG=1.0), and with one and a tenth kept (0.1), in turn
 * within each round — each round starting with the next — several rounds. The spans go to an OTLP/HTTP receiver in
 * this process that reads and drops them (http/protobuf, the default), so the
 * server does all an exporter does. Every order has an id of its own.
 *
 * Per mode, at a fixed rate: the CPU time per order of the server's main
 * thread (what limits throughput, and where every span is made and encoded)
 * and of the whole process, and the orders' p99 latency. Each ratio to "off"
 * is taken within its round.
 *
 *   npm run measure -- tracing
 *   npm run measure -- tracing --rounds 5 --seconds 6 --rate 600
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { driveOverhead, overhead } from './overhead-orders.js';
import { cpuTimeOf } from '../lib/proc.js';
import { parseCommandLine } from '../lib/command-line.js';
import { formatRatio, formatSpread, inRounds, pairRatios, progress, roundsOption, spreadOf } from '../lib/rounds.js';
import { startServerProcess } from '../lib/server-process.js';
import { serverLog } from './server-logs.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- tracing-cost',
    summary: [
      "What tracing costs: the overhead scenario's orders with no OTLP endpoint, with every trace exported, and with a",
      'tenth, in turn: CPU per order (main thread, whole process) and p99 at a fixed rate.',
    ].join('\n'),
  },
  {
    rounds: roundsOption(3),
    seconds: { type: 'integer', default: 5, help: 'seconds of each phase: warm-up, then the measured one' },
    rate: { type: 'integer', default: 600, help: 'orders/s of the measured phase' },
    baseline: {
      type: 'string',
      default: '',
      help: "another build's dist/src/main.js, one without tracing, measured too (`before`): is `off` within its noise?",
    },
    previous: {
      type: 'string',
      default: '',
      help: "another build's dist/src/main.js, measured at ratio 1.0 too (`previous 1.0`): an A/B of a change to tracing",
    },
  },
);

/** Reads each export whole and answers it, as a collector would; keeps only the count. */
let exportsReceived = 0;
const receiver = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    exportsReceived++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

const EVERY_TRACE = {
  OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
  OTEL_TRACES_SAMPLER: 'traceidratio',
  OTEL_TRACES_SAMPLER_ARG: '1',
};
const MODES = {
  ...(options.baseline ? { before: {} } : {}),
  off: {},
  ...(options.previous ? { 'previous 1.0': EVERY_TRACE } : {}),
  'ratio 1.0': EVERY_TRACE,
  'ratio 0.1': {
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_TRACES_SAMPLER: 'traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.1',
  },
} as const;
type Mode = keyof typeof MODES | 'before' | 'previous 1.0';

interface Figures {
  readonly mainUsPerOrder: number;
  readonly processUsPerOrder: number;
  readonly p99Ms: number;
}

const rounds = await inRounds(options.rounds, async (index) => {
  const round = {} as Record<Mode, Figures>;
  // Each round starts with the next mode: whichever runs first in a round does not always find the machine the same.
  const modes = Object.entries(MODES) as Array<[Mode, Record<string, string>]>;
  const turn = index % modes.length;
  for (const [mode, env] of [...modes.slice(turn), ...modes.slice(0, turn)]) {
    const server = await startServerProcess(
      { ...overhead.serverEnv, ...env },
      {
        logFile: serverLog(`tracing-${mode.replaceAll(' ', '-')}`),
        ...(mode === 'before' && options.baseline ? { main: options.baseline } : {}),
        ...(mode === 'previous 1.0' && options.previous ? { main: options.previous } : {}),
      },
    );
    try {
      await driveOverhead(server, options.seconds, 300); // warm-up
      const before = cpuTimeOf(server.child.pid!)!;
      const measured = await driveOverhead(server, options.seconds, options.rate);
      const after = cpuTimeOf(server.child.pid!)!;
      if (measured.non2xx > 0) progress(`  ${mode}: ${measured.non2xx} answers other than 2xx`);
      round[mode] = {
        mainUsPerOrder: ((after.mainThreadSec - before.mainThreadSec) / measured.requests) * 1e6,
        processUsPerOrder: ((after.processSec - before.processSec) / measured.requests) * 1e6,
        p99Ms: measured.p99Ms,
      };
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    const figures = round[mode];
    progress(
      `  ${mode}: main thread ${figures.mainUsPerOrder.toFixed(0)} µs/order, process ${figures.processUsPerOrder.toFixed(0)} µs/order, p99 ${figures.p99Ms} ms`,
    );
  }
  return round;
});
receiver.close();

const across = (mode: Mode, key: keyof Figures) => spreadOf(rounds.map((round) => round[mode][key]));
const ratio = (mode: Mode, key: keyof Figures) =>
  formatRatio(spreadOf(pairRatios(across(mode, key).values, across('off', key).values)));
console.log(
  `median (min–max) of ${options.rounds} rounds at ${options.rate} orders/s; ratios to off taken within each round; ${exportsReceived} exports received`,
);
console.table(
  (Object.keys(MODES) as Mode[]).flatMap((mode) => [
    {
      tracing: mode,
      'main-thread CPU per order (µs)': formatSpread(across(mode, 'mainUsPerOrder')),
      'process CPU per order (µs)': formatSpread(across(mode, 'processUsPerOrder')),
      'p99 (ms)': formatSpread(across(mode, 'p99Ms')),
    },
    ...(mode === 'off'
      ? []
      : [
          {
            tracing: `${mode} ÷ off`,
            'main-thread CPU per order (µs)': ratio(mode, 'mainUsPerOrder'),
            'process CPU per order (µs)': ratio(mode, 'processUsPerOrder'),
            'p99 (ms)': ratio(mode, 'p99Ms'),
          },
        ]),
  ]),
);
