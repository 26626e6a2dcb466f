/**
 * The ceiling HTTP alone puts on orders/s here: Express 5 and plain
 * node:http, each answering a POST with a small JSON body and no pipeline
 * behind it, under the `overhead` scenario's 50 connections. Several rounds,
 * node:http then Express in each; Express ÷ node:http taken within a round.
 *
 *   npm run measure:http
 *   npm run measure:http -- --rounds 5 --seconds 5
 */
import { once } from 'node:events';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import express from 'express';
import { parseCommandLine } from '../lib/command-line.js';
import { formatRatio, formatSpread, inRounds, pairRatios, progress, roundsOption, spreadOf } from '../lib/rounds.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure:http --',
    summary:
      'Requests/s of node:http and of Express 5 answering a small JSON, no pipeline: the ceiling HTTP puts on orders/s.',
  },
  { rounds: roundsOption(3), seconds: { type: 'integer', default: 5, help: 'seconds of load per server and round' } },
);

const ANSWER = JSON.stringify({ status: 'ok', order_id: 'x', steps: [] });

const plain: RequestListener = (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(ANSWER),
    });
    res.end(ANSWER);
  });
};

const app = express();
app.post('/order', express.raw({ type: () => true, limit: 64 * 1024 }), (_req, res) => {
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(ANSWER);
});

const SERVERS = [
  ['node:http', plain],
  ['Express 5 + express.raw', app],
] as const;

async function measure(handler: RequestListener): Promise<{ perSecond: number; p99Ms: number }> {
  const server = createServer(handler).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const result = await autocannon({
      url: `http://127.0.0.1:${port}/order`,
      connections: 50,
      duration: options.seconds,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ order_id: 'x', amount: 1, delay_ms: { payment: 1, vendor: 1, courier: 1 } }),
    });
    return { perSecond: result.requests.average, p99Ms: result.latency.p99 };
  } finally {
    server.close();
  }
}

const rounds = await inRounds(options.rounds, async () => {
  const figures = [];
  for (const [name, handler] of SERVERS) {
    figures.push(await measure(handler));
    progress(`  ${name}: ${Math.round(figures.at(-1)!.perSecond).toLocaleString('en')} requests/s`);
  }
  return figures;
});
const across = (server: number, key: 'perSecond' | 'p99Ms') => spreadOf(rounds.map((round) => round[server]![key]));
console.log(
  `median (min–max) of ${options.rounds} rounds, ${options.seconds} s each, 50 connections, load generator in the same process`,
);
console.table([
  ...SERVERS.map(([name], i) => ({
    server: name,
    'requests/s': formatSpread(across(i, 'perSecond')),
    'p99 ms': formatSpread(across(i, 'p99Ms')),
  })),
  {
    server: 'Express ÷ node:http, round by round',
    'requests/s': formatRatio(spreadOf(pairRatios(across(1, 'perSecond').values, across(0, 'perSecond').values))),
    'p99 ms': '',
  },
]);
