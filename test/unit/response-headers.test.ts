/**
 * The headers every response shares (src/http/wire/response-headers.ts): its kind of answer's, from one table — an
 * API's answer `nosniff` alone, a page helmet's, taken once — written with each head, the request's own beside them;
 * and none of them kept in a response while it waits for its answer, which is what an order in flight held before.
 */
import type { AddressInfo } from 'node:net';
import express, { type Response } from 'express';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { answerAs, deferHeader, HEADERS_OF, writeSharedHeaders } from '../../src/http/wire/response-headers.js';

const PAGE = HEADERS_OF.page;
/** The names of a flat list of headers, in lower case. */
const namesOf = (headers: readonly (string | number)[]): string[] =>
  headers.filter((_, i) => i % 2 === 0).map((name) => String(name).toLowerCase());

describe('the table of the headers each kind of answer carries', () => {
  test("an API's answer: nosniff, nothing of a page's", () => {
    expect(HEADERS_OF.api).toEqual(['X-Content-Type-Options', 'nosniff']);
  });

  test("a page: helmet's, its Content-Security-Policy framing nothing and loading nothing of its own", () => {
    expect(namesOf(PAGE)).toEqual([
      'content-security-policy',
      'cross-origin-opener-policy',
      'cross-origin-resource-policy',
      'origin-agent-cluster',
      'referrer-policy',
      'strict-transport-security',
      'x-content-type-options',
      'x-dns-prefetch-control',
      'x-download-options',
      'x-frame-options',
      'x-permitted-cross-domain-policies',
      'x-xss-protection',
    ]);
    expect(PAGE[PAGE.indexOf('Content-Security-Policy') + 1]).toBe("default-src 'none';frame-ancestors 'none'");
    expect(PAGE[PAGE.indexOf('X-Content-Type-Options') + 1]).toBe('nosniff');
  });
});

describe('the shared headers', () => {
  let base: string;
  let close: () => Promise<void>;
  /** What a waiting response held, seen from inside its route just before it answered. */
  let heldWhileWaiting: string[] = [];

  beforeAll(async () => {
    const app = express();
    app.disable('x-powered-by');
    writeSharedHeaders(app);
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
    app.get('/page', (_req, res) => {
      answerAs(res, 'page');
      res.type('html').send('<p>ok</p>');
    });
    app.get('/own-policy', (_req, res) => {
      answerAs(res, 'page');
      res.setHeader('Content-Security-Policy', "default-src 'self'");
      res.send('ok');
    });
    app.get('/given-policy', (_req, res) => {
      answerAs(res, 'page');
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

  test("a response that waits holds none of them, and writes an API's with its head, each once", async () => {
    const response = await fetch(`${base}/lean`);
    expect(heldWhileWaiting).toEqual([]);
    expect(await response.text()).toBe('ok');
    expect(response.headers.get('x-request-id')).toBe('req-1');
    expect(response.headers.get('order-tier')).toBe('free');
    expect([...response.headers.keys()].sort()).toEqual([
      'connection',
      'content-length',
      'content-type',
      'date',
      'keep-alive',
      'order-tier',
      'x-content-type-options',
      'x-request-id',
    ]);
  });

  test("a page carries a page's, each once", async () => {
    const response = await fetch(`${base}/page`);
    expect(await response.text()).toBe('<p>ok</p>');
    for (const name of namesOf(PAGE))
      expect(response.headers.get(name), name).toBe(PAGE[PAGE.findIndex((n) => String(n).toLowerCase() === name) + 1]);
  });

  test("a route's own header, set before or given with the head, wins over the shared one and goes out once", async () => {
    const set = await fetch(`${base}/own-policy`);
    expect(set.headers.get('content-security-policy')).toBe("default-src 'self'");
    expect(set.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    const given = await fetch(`${base}/given-policy`);
    expect(given.headers.get('content-security-policy')).toBe("img-src 'self'");
    expect(given.headers.get('x-request-id')).toBe('req-1');
  });

  test("Express's own answers carry an API's too", async () => {
    const response = await fetch(`${base}/express`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ gone: true });
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toBeNull();
    expect(response.headers.get('x-request-id')).toBe('req-1');
  });
});
