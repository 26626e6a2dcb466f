/**
 * What the server keeps of a request once it is answered (src/http/server.ts): nothing, once its body is in. Its body
 * sweep watches the requests whose body is still arriving, and dropped one whose body was in only as it passed, every
 * 250 ms: an answered order's request, response and the objects they reach were kept that long. At 2,800 orders a
 * second that was 324 answered requests held at any moment beside 50 in flight (a heap snapshot under wrk), each
 * promoted to the old heap. A request answered before its body came is another matter: the sweep still cuts a body
 * that trickles in after its answer.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpServer } from '../../src/http/server.js';
import { pause } from '../support/wait.js';

describe('an answered request', () => {
  let server: HttpServer | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await server?.whenClosed(0);
    server = undefined;
  });

  /**
   * A server answering 200 — once it has read the body, as the service answers an order, or `atOnce`, as it refuses one
   * before reading it — and a connection to it.
   */
  async function connected(atOnce = false): Promise<Socket> {
    server = new HttpServer(
      (req, res) => {
        const answer = (): void => void res.writeHead(200, { 'Content-Length': 2 }).end('ok');
        if (atOnce) return answer();
        req.resume();
        req.on('end', answer);
      },
      {
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 30_000,
        keepAliveTimeoutMs: 30_000,
        maxConnections: 100,
        hardLimit: undefined,
      },
      pino({ level: 'silent' }),
    );
    const url = await server.listen('127.0.0.1', 0);
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', () => {});
    sockets.push(socket);
    await once(socket, 'connect');
    return socket;
  }

  it('is not kept for the body sweep once its body is in', async () => {
    const socket = await connected();
    const body = '{"order_id":"a","amount":1}';
    const answered = once(socket, 'data');
    // Headers and body in one write: the request event comes before its body is read, as an order's does.
    socket.write(`POST /order HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    expect(String((await answered)[0])).toMatch(/^HTTP\/1.1 200/);
    // Its response has closed by the time its bytes are read here; the sweep's first pass is 250 ms after it came.
    await new Promise((resolve) => setImmediate(resolve));
    expect(server!.requestsArriving).toBe(0);
  });

  it('answered before its body came, has a body trickling after its answer cut all the same', async () => {
    const socket = await connected(true);
    const answered = once(socket, 'data');
    const closed = once(socket, 'close');
    socket.write(`POST /order HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n`);
    expect(String((await answered)[0])).toMatch(/^HTTP\/1.1 200/);
    expect(server!.requestsArriving).toBe(1);
    const startedAt = performance.now();
    let cut = false;
    void closed.then(() => (cut = true));
    // A byte every 100 ms, far below the sweep's 1 KiB a second, for up to 8 s; the keep-alive and request timeouts
    // are 30 s.
    for (let i = 0; i < 80 && !cut; i++) {
      await pause(100);
      if (!cut) socket.write(' ');
    }
    expect(cut).toBe(true);
    // Cut on the sweep's fifth look (its grace is four), 1.25 s after the headers; counted in looks, not time.
    expect(performance.now() - startedAt).toBeLessThan(8000);
    expect(server!.requestsArriving).toBe(0);
  });
});
