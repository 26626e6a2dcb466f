/**
 * The ceiling HTTP alone puts on orders/s here: Express 5 and plain
 * node:http, each answering a POST with a small JSON body and no pipeline
 * behind it, under the `overhead` scenario's 50 connections.
 *
 *   npm run measure:http
 */
import { once } from 'node:events';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import express from 'express';

const ANSWER = JSON.stringify({ status: 'ok', order_id: 'x', steps: [] });

const plain: RequestListener = (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(ANSWER) });
    res.end(ANSWER);
  });
};

const app = express();
app.post('/order', express.raw({ type: () => true, limit: 64 * 1024 }), (_req, res) => {
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(ANSWER);
});

const rows = [];
for (const [name, handler] of [
  ['node:http', plain],
  ['Express 5 + express.raw', app],
] as const) {
  const server = createServer(handler).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/order`,
    connections: 50,
    duration: 5,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ order_id: 'x', amount: 1, delay_ms: { payment: 1, vendor: 1, courier: 1 } }),
  });
  rows.push({ server: name, 'requests/s': Math.round(result.requests.average), 'p99 ms': result.latency.p99 });
  server.close();
}
console.table(rows);
