import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { messageClassesOf } from '../../src/http/express-messages.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise((done) => server?.close(done) ?? done(undefined));
  server = undefined;
});

describe('messageClassesOf', () => {
  it("makes a server's requests and responses with the app's prototypes before Express sees them, and they work as Node's", async () => {
    const app = express();
    app.use(express.json());
    app.post('/echo', (req, res) => {
      res.status(201).json({ got: req.body as unknown, path: req.path });
    });
    const bornWith: boolean[] = [];
    server = createServer(messageClassesOf(app), (req, res) => {
      bornWith.push(
        Object.getPrototypeOf(req) === app.request &&
          Object.getPrototypeOf(res) === app.response &&
          req instanceof IncomingMessage &&
          res instanceof ServerResponse,
      );
      app(req, res);
    });
    await new Promise<void>((ready) => server!.listen(0, '127.0.0.1', ready));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/echo`;

    // Two requests on one keep-alive connection, and a body read as a stream.
    for (const n of [1, 2]) {
      const answer = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ n }),
      });
      expect(answer.status).toBe(201);
      expect(await answer.json()).toEqual({ got: { n }, path: '/echo' });
    }
    expect(bornWith).toEqual([true, true]);
  });

  it('gives each response locals of its own before Express does: with a prototype (not in dictionary mode) that inherits nothing', async () => {
    const app = express();
    const seen: { prototype: unknown; inherited: boolean; own: string[] }[] = [];
    app.get('/', (_req, res) => {
      const { locals } = res;
      // Express's own are Object.create(null): an object without a prototype, which V8 keeps in dictionary mode.
      seen.push({
        prototype: Object.getPrototypeOf(locals),
        inherited: 'toString' in locals,
        own: Object.keys(locals),
      });
      res.locals.requestId = 'r';
      res.end();
    });
    server = createServer(messageClassesOf(app), app);
    await new Promise<void>((ready) => server!.listen(0, '127.0.0.1', ready));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    for (let n = 0; n < 2; n++) expect((await fetch(url)).status).toBe(200);
    expect(seen).toHaveLength(2);
    for (const { prototype, inherited, own } of seen) {
      expect(prototype).not.toBeNull();
      expect(Object.getPrototypeOf(prototype)).toBeNull();
      expect(inherited).toBe(false);
      // Fresh for each response: nothing of the one before.
      expect(own).toEqual([]);
    }
  });
});
