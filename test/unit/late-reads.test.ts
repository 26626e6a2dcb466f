/**
 * Reads give way to orders while the main thread runs late (src/http/guards/late-reads.ts), on a real server and real
 * sockets, its lateness told by a clock the test sets: a read is answered 503 overloaded with Retry-After before the
 * app, in the JSON shape or as problem details, and its connection closed; the probes and anything that changes
 * something reach the app whatever the lateness; and once a turn runs late, the connections waiting to be read are
 * read again a few hundred a turn, none lost. The turn itself is the loop lateness's (src/composition/loop-lateness.ts).
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LoopLateness } from '../../src/composition/loop-lateness.js';
import { isRead, LateReads, READS_LATE_MS, type LoopClock } from '../../src/http/guards/late-reads.js';
import { HttpServer } from '../../src/http/server.js';
import { parseReply } from '../support/raw-socket.js';

/** A clock the test sets: late by `lateMs`, or a turn that has run `turnMs`; each turn a new number. */
class SetClock implements LoopClock {
  lateMs = 0;
  ownLateMs = 0;
  turnLateMs = 0;
  turn = 0;
  turnMs(): number {
    return this.turnLateMs;
  }
}

/** Sends `request` on a connection of its own and resolves with the whole reply once the server closes it. */
async function ask(url: URL, request: string): Promise<string> {
  const socket = connect(Number(url.port), url.hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(request);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('utf8');
}

const get = (path: string, headers = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`;

describe('reads while the main thread runs late', () => {
  const clock = new SetClock();
  /** Orders under way, as the test sets them: one unless a test says otherwise. */
  let ordersInFlight = 1;
  let server: HttpServer | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await server?.whenClosed(0);
    server = undefined;
    Object.assign(clock, { lateMs: 0, ownLateMs: 0, turnLateMs: 0 });
    ordersInFlight = 1;
  });

  async function serve(): Promise<URL> {
    server = new HttpServer(
      (_req, res) => res.writeHead(200, { 'Content-Length': 2, Connection: 'close' }).end('ok'),
      {
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 30_000,
        keepAliveTimeoutMs: 5000,
        maxConnections: 10_000,
        hardLimit: undefined,
      },
      pino({ level: 'silent' }),
      undefined,
      new LateReads(clock, pino({ level: 'silent' }), () => ordersInFlight),
    );
    return server.listen('127.0.0.1', 0);
  }

  it('are a GET or HEAD of anything but the probes', () => {
    expect(isRead('GET', '/orders/a')).toBe(true);
    expect(isRead('HEAD', '/events?after=x')).toBe(true);
    expect(isRead('GET', '/healthz')).toBe(false);
    expect(isRead('GET', '/readyz')).toBe(false);
    expect(isRead('GET', '/metrics')).toBe(false);
    expect(isRead('GET', '/admin/dependencies')).toBe(false);
    expect(isRead('GET', '/threads/events')).toBe(false);
    expect(isRead('GET', '/console')).toBe(false);
    expect(isRead('POST', '/order')).toBe(false);
    expect(isRead('POST', '/orders/a/cancel')).toBe(false);
  });

  it('are answered 503 overloaded with Retry-After before the app, and closed; orders and probes reach it', async () => {
    const url = await serve();
    expect(parseReply(await ask(url, get('/orders/a'))).status).toBe(200);
    clock.lateMs = READS_LATE_MS;
    const refused = parseReply(await ask(url, get('/orders/a')));
    expect(refused.status).toBe(503);
    expect(refused.headers).toMatchObject({ 'retry-after': '1', 'cache-control': 'no-store', connection: 'close' });
    expect(JSON.parse(refused.body)).toEqual({
      status: 'error',
      error: { kind: 'overloaded', message: expect.stringMatching(/reads are refused until it catches up/) as string },
    });
    const head = parseReply(await ask(url, get('/orders/a').replace('GET', 'HEAD')));
    expect([head.status, head.body]).toEqual([503, '']);
    const problem = parseReply(
      await ask(url, get('/orders/a', 'Accept: application/problem+json\r\nX-Request-Id: r-1\r\n')),
    );
    expect(JSON.parse(problem.body)).toMatchObject({ kind: 'overloaded', status: 503, instance: 'r-1' });
    expect(problem.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    for (const probe of ['/healthz', '/readyz']) expect(parseReply(await ask(url, get(probe))).status).toBe(200);
    const order = 'POST /order HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}';
    expect(parseReply(await ask(url, order)).status).toBe(200);
    // A turn that has run late is late too, whatever the timers said.
    Object.assign(clock, { lateMs: 0, turnLateMs: READS_LATE_MS });
    expect(parseReply(await ask(url, get('/orders/a'))).status).toBe(503);
  });

  it("with no order under way, are refused only for the loop's own lateness, not for its waits for a core", async () => {
    const url = await serve();
    ordersInFlight = 0;
    // A busy machine: the timers late waiting for a core, the loop's own work light. Before, refused all the same.
    Object.assign(clock, { lateMs: 4 * READS_LATE_MS, ownLateMs: 1 });
    expect(parseReply(await ask(url, get('/openapi.json'))).status).toBe(200);
    clock.ownLateMs = READS_LATE_MS;
    expect(parseReply(await ask(url, get('/openapi.json'))).status).toBe(503);
    // An order under way: reads give way to it by the clock, whoever took the core.
    Object.assign(clock, { ownLateMs: 1 });
    ordersInFlight = 1;
    expect(parseReply(await ask(url, get('/openapi.json'))).status).toBe(503);
  });

  it('hold the connections waiting to be read once a turn runs late, and read them all again, none lost', async () => {
    const url = await serve();
    // 600 connections open and silent, then a request as the turn has run late: the 600 stop being read.
    const waiting = await Promise.all(
      Array.from({ length: 600 }, async () => {
        const socket = connect(Number(url.port), url.hostname);
        sockets.push(socket);
        await once(socket, 'connect');
        return socket;
      }),
    );
    clock.turnLateMs = READS_LATE_MS;
    expect(parseReply(await ask(url, get('/orders/a'))).status).toBe(503);
    // The loop catches up: what the 600 send now is read, a few hundred a turn, and each answered by the app.
    Object.assign(clock, { turnLateMs: 0, turn: 1 });
    const replies = waiting.map(async (socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.write(get('/orders/b'));
      await once(socket, 'close');
      return parseReply(Buffer.concat(chunks).toString('utf8')).status;
    });
    // While any is held the thread is behind: a read that arrives meanwhile is refused, an answer all the same.
    const statuses = await Promise.all(replies);
    expect(statuses.filter((status) => status !== 200 && status !== 503)).toEqual([]);
    expect(statuses.length).toBe(600);
  });
});

describe("a turn of the loop's requests", () => {
  it("is timed in the thread's CPU from its first request to its end, and the next is another", async () => {
    const cpuMs = (): number => {
      const { user, system } = process.threadCpuUsage();
      return (user + system) / 1000;
    };
    const loop = new LoopLateness();
    try {
      expect(loop.turnMs()).toBe(0);
      const turn = loop.turn;
      // Off the CPU, as a thread waiting for a core on a busy machine is: the clock moves, the turn's CPU hardly.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60);
      expect(loop.turnMs()).toBeLessThan(20);
      const until = cpuMs() + 20;
      while (cpuMs() < until);
      expect(loop.turnMs()).toBeGreaterThanOrEqual(20);
      await new Promise((resolve) => setImmediate(resolve));
      expect(loop.turn).not.toBe(turn);
      expect(loop.turnMs()).toBe(0);
    } finally {
      loop.stop();
    }
  });
});
