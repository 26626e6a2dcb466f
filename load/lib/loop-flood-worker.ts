/**
 * A flood of the event loop, sent from a worker thread (client-scenarios.ts, loopFlood): `connections` raw sockets,
 * each sending `pipelined` requests `GET /orders/x` at a time — with a client's key, or none — and the next as many
 * once they are answered, for `ms`; the statuses it got are posted back. Raw sockets, not fetch, and requests pipelined: a thousand sockets
 * cost this thread little, and it is the service's event loop that the flood is meant to keep busy, not this one.
 */
import { connect, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

const { url, connections, ms, pipelined, key } = workerData as {
  url: string;
  connections: number;
  ms: number;
  pipelined: number;
  key: string | undefined;
};
const target = new URL(url);
const authorization = key === undefined ? '' : `Authorization: Bearer ${key}\r\n`;
const requests = `GET /orders/x HTTP/1.1\r\nHost: ${target.host}\r\n${authorization}\r\n`.repeat(pipelined);
const statuses: Record<string, number> = {};
const until = performance.now() + ms;
const open = new Set<Socket>();

function keepOne(): void {
  if (performance.now() >= until) return;
  const socket = connect(Number(target.port), target.hostname);
  open.add(socket);
  socket.setNoDelay(true);
  socket.on('error', () => {});
  let waiting = pipelined;
  socket.once('connect', () => socket.write(requests));
  socket.on('data', (chunk: Buffer) => {
    for (const [, status] of chunk.toString('latin1').matchAll(/HTTP\/1\.1 (\d{3})/g)) {
      statuses[status!] = (statuses[status!] ?? 0) + 1;
      waiting--;
    }
    if (waiting > 0) return;
    waiting = pipelined;
    if (performance.now() < until) socket.write(requests);
    else socket.destroy();
  });
  socket.once('close', () => {
    open.delete(socket);
    keepOne();
  });
}

for (let i = 0; i < connections; i++) keepOne();
setTimeout(() => {
  for (const socket of open) socket.destroy();
  parentPort!.postMessage(statuses);
}, ms);
