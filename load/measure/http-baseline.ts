/**
 * What ceiling does HTTP alone put on orders/s, and what does a request cost the server?
 * Kept in: docs/decisions/steps-as-piscina-tasks.md
 *
 * The ceiling HTTP alone puts on orders/s here, and what a request costs the
 * server: Express 5 and plain node:http, each answering a POST with a small
 * JSON body (the body read, JSON.parse'd, a small JSON answered) and no
 * pipeline behind it, under the `overhead` scenario's 50 connections. Several
 * rounds, node:http then Express in each; Express ÷ node:http taken within a
 * round.
 *
 * Each server runs in a child process of its own (this file again, with
 * `--serve`), started afresh for each server and round, so that the CPU counted
 * is the server's alone, not the load generator's: utime + stime of that
 * process, every thread, from /proc (load/lib/proc.ts, as the suite reads
 * its servers) before and after the measured load (not the warm-up),
 * divided by the requests answered in it. The generator — autocannon in this
 * process, or wrk (`--generator wrk`, C, a process of its own, driven as the
 * suite drives it) — shares the two cores with the server: requests/s at the
 * ceiling depends on it, CPU per request much less.
 *
 * `--answer-after-ms N` holds each answer N ms after its body arrived: with 50
 * connections, 15 ms gives about 3,000 requests/s, the rate of the `overhead`
 * scenario, so the CPU per request is read at the service's rate as well as at
 * the ceiling (0, the default).
 *
 *   npm run measure -- http
 *   npm run measure -- http --rounds 5 --seconds 5
 *   npm run measure -- http --generator wrk --answer-after-ms 15
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import express from 'express';
import { parseCommandLine } from '../lib/command-line.js';
import { cpuTimeOf } from '../lib/proc.js';
import { formatRatio, formatSpread, inRounds, pairRatios, progress, roundsOption, spreadOf } from '../lib/rounds.js';
import { WRK } from '../suite/generators/wrk.js';
import { always, type Scenario } from '../suite/scenarios.js';

const SERVERS = { plain: 'node:http', express: 'Express 5 + express.raw' } as const;
type ServerKind = keyof typeof SERVERS;
const KINDS = Object.keys(SERVERS) as ServerKind[];
const GENERATORS = ['autocannon', 'wrk'] as const;
const CONNECTIONS = 50;

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- http',
    summary:
      'Requests/s of node:http and of Express 5 answering a small JSON, no pipeline: the ceiling HTTP puts on orders/s; and the CPU per request of the server, a child process.',
  },
  {
    rounds: roundsOption(3),
    seconds: { type: 'integer', default: 5, help: 'seconds of load per server and round' },
    'warm-up': {
      type: 'integer',
      default: 1,
      min: 0,
      help: 'seconds of the same load before each measured one, not counted (a fresh Node server starts slow)',
    },
    'answer-after-ms': {
      type: 'integer',
      default: 0,
      min: 0,
      help: "each answer N ms after its body arrived: 15 gives about 3,000 requests/s, the overhead scenario's rate",
    },
    generator: { type: 'string', default: 'autocannon', placeholder: 'autocannon|wrk', help: 'the load generator' },
    serve: {
      type: 'string',
      placeholder: 'plain|express',
      help: 'serve in this process, its port said to the parent: how the measurement starts each server',
    },
  },
);
const answerAfterMs = options['answer-after-ms'];

function refuse(message: string): never {
  console.error(`${message} (--help lists the options)`);
  process.exit(2);
}

const ANSWER = JSON.stringify({ status: 'ok', order_id: 'x', steps: [] });
const ORDER = { order_id: 'x', amount: 1, delay_ms: { payment: 1, vendor: 1, courier: 1 } };

/** `answer` now, or `answerAfterMs` later. */
const inDueTime = (answer: () => void): void => {
  if (answerAfterMs > 0) setTimeout(answer, answerAfterMs);
  else answer();
};

const plain: RequestListener = (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    JSON.parse(Buffer.concat(chunks).toString('utf8'));
    inDueTime(() => {
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(ANSWER),
      });
      res.end(ANSWER);
    });
  });
};

function expressApp(): RequestListener {
  const app = express();
  app.post('/order', express.raw({ type: () => true, limit: 64 * 1024 }), (req, res) => {
    JSON.parse((req.body as Buffer).toString('utf8'));
    inDueTime(() => {
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.end(ANSWER);
    });
  });
  return app;
}

/** The child: one server, its port sent to the parent; gone with the parent (its end, a crash, ^C). */
async function serve(kind: ServerKind): Promise<void> {
  if (process.send === undefined) refuse('--serve is how the measurement starts its servers: run without it');
  const server = createServer(kind === 'plain' ? plain : expressApp()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  process.once('disconnect', () => process.exit(0));
  process.send({ port: (server.address() as AddressInfo).port });
}

interface Server {
  readonly pid: number;
  readonly url: URL;
  stop(): Promise<void>;
}

/** A server in a child process of its own, listening. */
async function startServer(kind: ServerKind): Promise<Server> {
  const child = fork(
    fileURLToPath(import.meta.url),
    ['--serve', kind, '--answer-after-ms', String(answerAfterMs)],
    // Its stderr straight to ours: nothing it writes passes through this process.
    { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (message) => resolve((message as { port: number }).port));
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        reject(new Error(`the ${SERVERS[kind]} server ended before listening (${code ?? signal})`)),
      );
    });
    return { pid: child.pid!, url: new URL(`http://127.0.0.1:${port}/order`), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** utime + stime of the server, every thread, in seconds (load/lib/proc.ts). */
function cpuSecondsOf(pid: number): number {
  const cpu = cpuTimeOf(pid);
  if (cpu === null) throw new Error(`no /proc figures for server process ${pid}`);
  return cpu.processSec;
}

interface Load {
  readonly perSecond: number;
  readonly p99Ms: number;
  /** Responses in the measured load. */
  readonly answered: number;
  /** Requests that failed or got a status other than 200, the warm-up's included. */
  readonly failed: number;
  /** The server's CPU over the measured load. */
  readonly cpuSec: number;
}

async function autocannonLoad(server: Server): Promise<Load> {
  const run = (seconds: number) =>
    autocannon({
      url: server.url.href,
      connections: CONNECTIONS,
      duration: seconds,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ORDER),
    });
  const warmUp = options['warm-up'] > 0 ? await run(options['warm-up']) : null;
  const before = cpuSecondsOf(server.pid);
  const result = await run(options.seconds);
  const cpuSec = cpuSecondsOf(server.pid) - before;
  return {
    perSecond: result.requests.average,
    p99Ms: result.latency.p99,
    answered: result.requests.total,
    failed: [warmUp, result].reduce((sum, done) => sum + (done ? done.errors + done.non2xx : 0), 0),
    cpuSec,
  };
}

async function wrkLoad(server: Server, scenario: Scenario, tag: string): Promise<Load> {
  let before = NaN;
  const load = {
    url: server.url,
    scenario,
    connections: CONNECTIONS,
    durationSec: options.seconds,
    warmUpSec: options['warm-up'],
    tag,
  };
  const generated = await WRK.start(load, () => (before = cpuSecondsOf(server.pid))).finished;
  const cpuSec = cpuSecondsOf(server.pid) - before;
  const count = (counts: ReadonlyMap<unknown, number>) => [...counts.values()].reduce((sum, n) => sum + n, 0);
  return {
    perSecond: generated.responses / (generated.elapsedMs / 1000),
    p99Ms: generated.latency.p99,
    answered: generated.responses,
    failed: count(generated.unexpected) + count(generated.noResponse),
    cpuSec,
  };
}

async function measure(): Promise<void> {
  const generator = options.generator;
  if (!(GENERATORS as readonly string[]).includes(generator))
    refuse(`--generator must be one of ${GENERATORS.join(', ')}, got ${generator}`);
  // For wrk: the scenario its driver takes, every order this one (a fresh order_id each).
  const scenario: Scenario = {
    name: 'http-baseline',
    description: 'A small JSON order to a bare HTTP server.',
    headline: 'throughput',
    serverEnv: {},
    connections: CONNECTIONS,
    durationSec: options.seconds,
    smokeSec: options.seconds,
    order: () => ORDER,
    expectedStatus: always(200),
    // Not held to the gates: a bare server, its figures the question.
    bounds: () => [],
  };
  if (generator === 'wrk') WRK.check(scenario);

  const rounds = await inRounds(options.rounds, async (round) => {
    const figures = [];
    for (const kind of KINDS) {
      const server = await startServer(kind);
      let load: Load;
      try {
        load =
          generator === 'wrk'
            ? await wrkLoad(server, scenario, `http-${kind}-${round}-${Date.now()}`)
            : await autocannonLoad(server);
      } finally {
        await server.stop();
      }
      const cpuUsPerRequest = (load.cpuSec * 1e6) / load.answered;
      figures.push({ perSecond: load.perSecond, p99Ms: load.p99Ms, cpuUsPerRequest });
      progress(
        `  ${SERVERS[kind]}: ${Math.round(load.perSecond).toLocaleString('en')} requests/s, ` +
          `${Math.round(cpuUsPerRequest)} µs CPU per request` +
          (load.failed > 0 ? `, ${load.failed} requests failed or not answered 200` : ''),
      );
    }
    return figures;
  });

  type Figure = 'perSecond' | 'p99Ms' | 'cpuUsPerRequest';
  const across = (server: number, key: Figure) => spreadOf(rounds.map((round) => round[server]![key]));
  const ratio = (key: Figure) => formatRatio(spreadOf(pairRatios(across(1, key).values, across(0, key).values)));
  console.log(
    `median (min–max) of ${options.rounds} rounds, ${options.seconds} s each after ${options['warm-up']} s of warm-up, ` +
      `${CONNECTIONS} connections, answers ${answerAfterMs > 0 ? `${answerAfterMs} ms after the body` : 'at once'}; ` +
      (generator === 'wrk'
        ? 'load by wrk, a process of its own (p99 its own, corrected for coordinated omission)'
        : 'load by autocannon in this process') +
      '; each server a child process, its CPU alone counted (utime + stime, every thread)',
  );
  console.table([
    ...KINDS.map((kind, i) => ({
      server: SERVERS[kind],
      'requests/s': formatSpread(across(i, 'perSecond')),
      'p99 ms': formatSpread(across(i, 'p99Ms')),
      'CPU µs/request': formatSpread(across(i, 'cpuUsPerRequest')),
    })),
    {
      server: 'Express ÷ node:http, round by round',
      'requests/s': ratio('perSecond'),
      'p99 ms': '',
      'CPU µs/request': ratio('cpuUsPerRequest'),
    },
  ]);
}

const serving = options.serve;
if (serving === undefined) await measure();
else if (Object.hasOwn(SERVERS, serving)) await serve(serving as ServerKind);
else refuse(`--serve must be one of ${KINDS.join(', ')}, got ${serving}`);
