/**
 * What the server keeps of a request once it is answered (src/http/server.ts): nothing. Its body sweep watches the
 * requests whose body is still arriving, and dropped one whose body was in only as it passed, every 250 ms: an answered
 * order's request, response and the objects they reach were kept that long. At 2,800 orders a second that was 324
 * answered requests held at any moment beside 50 in flight (a heap snapshot under wrk), each promoted to the old heap.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpServer } from '../../src/http/server.js';

describe('an answered request', () => {
  let server: HttpServer | undefined;
  afterEach(async () => {
    await server?.whenClosed(0);
    server = undefined;
  });

  it('is not kept for the body sweep, which watches only requests still arriving', async () => {
    server = new HttpServer(
      (_req, res) => res.writeHead(200, { 'Content-Length': 2 }).end('ok'),
      {
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 30_000,
        keepAliveTimeoutMs: 5000,
        maxConnections: 100,
        hardLimit: undefined,
      },
      pino({ level: 'silent' }),
    );
    const url = await server.listen('127.0.0.1', 0);
    const socket = connect(Number(url.port), url.hostname);
    try {
      await once(socket, 'connect');
      const body = '{"order_id":"a","amount":1}';
      const answered = once(socket, 'data');
      // Headers and body in one write: the request event comes before its body is read, as an order's does.
      socket.write(`POST /order HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      expect(String((await answered)[0])).toMatch(/^HTTP\/1.1 200/);
      // Its response has closed by the time its bytes are read here; the sweep's first pass is 250 ms after it came.
      await new Promise((resolve) => setImmediate(resolve));
      expect(server.requestsArriving).toBe(0);
    } finally {
      socket.destroy();
    }
  });
});
