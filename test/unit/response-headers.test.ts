/**
 * The headers every response shares (src/http/wire/response-headers.ts): helmet's,
 * taken once and written with each head, the request's own beside them — and
 * none of them kept in a response while it waits for its answer, which is
 * what an order in flight held before.
 */
import type { AddressInfo } from 'node:net';
import express, { type Response } from 'express';
import helmet from 'helmet';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deferHeader, headersSetBy, writeSharedHeaders } from '../../src/http/wire/response-headers.js';

const SHARED = headersSetBy(helmet());

describe('the shared headers', () => {
  let base: string;
  let close: () => Promise<void>;
  /** What a waiting response held, seen from inside its route just before it answered. */
  let heldWhileWaiting: string[] = [];

  beforeAll(async () => {
    const app = express();
    app.disable('x-powered-by');
    writeSharedHeaders(app, SHARED);
    app.use((_req, res, next) => {
      res.locals.requestId = 'req-1';
      next();
    });
    const waitThenAnswer = (res: Response, answer: () => void): void => {
      setTimeout(() => {
        heldWhileWaiting = res.getHeaderNames();
        answer();
      }, 20);
    };
    app.get('/lean', (_req, res) => {
      deferHeader(res, 'Order-Tier', 'free');
      waitThenAnswer(res, () => res.writeHead(200, ['Content-Type', 'text/plain', 'Content-Length', 2]).end('ok'));
    });
    app.get('/own-policy', (_req, res) => {
      res.setHeader('Content-Security-Policy', "default-src 'self'");
      res.send('ok');
    });
    app.get('/given-policy', (_req, res) => {
      res.writeHead(200, { 'content-security-policy': "img-src 'self'", 'Content-Length': '2' }).end('ok');
    });
    app.get('/express', (_req, res) => {
      res.status(404).json({ gone: true });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
  });
  afterAll(() => close());

  test('helmet is recorded once: its headers, with their values', () => {
    const names = SHARED.filter((_, i) => i % 2 === 0).map((name) => String(name).toLowerCase());
    expect(names).toContain('content-security-policy');
    expect(names).toContain('x-content-type-options');
    expect(names).toContain('strict-transport-security');
    expect(SHARED[names.indexOf('x-content-type-options') * 2 + 1]).toBe('nosniff');
  });

  test('a response that waits holds none of them, and writes them all with its head, each once', async () => {
    const response = await fetch(`${base}/lean`);
    expect(heldWhileWaiting).toEqual([]);
    expect(await response.text()).toBe('ok');
    expect(response.headers.get('x-request-id')).toBe('req-1');
    expect(response.headers.get('order-tier')).toBe('free');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toBe(SHARED[SHARED.indexOf('Content-Security-Policy') + 1]);
  });

  test("a route's own header, set before or given with the head, wins over the shared one and goes out once", async () => {
    const set = await fetch(`${base}/own-policy`);
    expect(set.headers.get('content-security-policy')).toBe("default-src 'self'");
    expect(set.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    const given = await fetch(`${base}/given-policy`);
    expect(given.headers.get('content-security-policy')).toBe("img-src 'self'");
    expect(given.headers.get('x-request-id')).toBe('req-1');
  });

  test("Express's own answers carry them too", async () => {
    const response = await fetch(`${base}/express`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ gone: true });
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-request-id')).toBe('req-1');
  });
});
