/**
 * The drain's deadline on a real socket: it cuts the connections that hold
 * the drain open for nothing, never one whose request has arrived and is
 * being answered. process.test.ts's drain-deadline test failed with
 * ECONNRESET beside heavy load: the runs had ended, but on busy cores the
 * time left for the close was 0 ms, and the cut came before their answers.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { HttpServer } from '../../src/http/server.js';

const LIMITS = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5000,
  maxConnections: 100,
  hardLimit: undefined,
};

describe('the drain deadline', () => {
  it('answers a request that has arrived even when the deadline has passed, and cuts a connection that sent nothing', async () => {
    let answer: (() => void) | undefined;
    let markArrived!: () => void;
    const arrived = new Promise<void>((resolve) => (markArrived = resolve));
    const server = new HttpServer(
      (req, res) => {
        req.resume();
        req.once('end', () => {
          answer = () => res.end('answered');
          markArrived();
        });
      },
      LIMITS,
      pino({ level: 'silent' }),
    );
    const url = await server.listen('127.0.0.1', 0);
    const silent = connect(Number(url.port), url.hostname);
    await once(silent, 'connect');
    const silentClosed = once(silent, 'close');
    const answered = new Promise<{ status: number | undefined; body: string } | Error>((resolve) => {
      const req = request(url, { method: 'POST', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      });
      req.on('error', resolve);
      req.end('an order');
    });
    await arrived;

    const closed = server.whenClosed(0);
    // After the deadline's timer (set first, due no later).
    await new Promise((resolve) => setTimeout(resolve, 0));
    answer!();
    expect(await answered).toEqual({ status: 200, body: 'answered' });
    await silentClosed;
    await closed;
  });
});
