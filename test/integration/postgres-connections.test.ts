/**
 * The durable mode's connections, on a real Postgres: a statement that
 * reached Postgres and was never answered is told from one that never left
 * (the begin's outcome_unknown rests on it), and a connection checked out for
 * a statement is heard for as long as it is out — an error that comes with no
 * statement under way (a backend ended right after its answer) must not
 * bring the process down.
 */
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Database } from '../../src/postgres/database.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  startTestPostgres,
  type TestPostgres,
} from '../support/postgres.js';
import { pause } from '../support/wait.js';

let server: TestPostgres | undefined;
beforeAll(async () => {
  if (POSTGRES_UNAVAILABLE === undefined) server = await startTestPostgres();
});
afterAll(async () => {
  await server?.stop();
});

/**
 * A TCP proxy in front of Postgres that can hold what Postgres sends: while `holding`, its bytes are kept, and
 * `release()` passes them on in one write — as a client whose event loop was busy reads them, in one chunk.
 */
async function holdingProxy(
  url: string,
): Promise<{ url: string; holding: boolean; release(): void; close(): Promise<void> }> {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  const held: Array<{ client: Socket; data: Buffer[] }> = [];
  const proxy = {
    url: '',
    holding: false,
    release(): void {
      this.holding = false;
      for (const { client, data } of held.splice(0)) if (data.length > 0) client.write(Buffer.concat(data));
    },
    async close(): Promise<void> {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => listener.close(resolve));
    },
  };
  const listener = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => sockets.delete(socket));
    }
    const kept = { client, data: [] as Buffer[] };
    held.push(kept);
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (proxy.holding) kept.data.push(chunk);
      else client.write(chunk);
    });
    // Postgres closing a connection after a FATAL: the client hears it once what was held has gone through.
    upstream.on('end', () => {
      const end = (): void => void (proxy.holding ? setTimeout(end, 10) : client.end());
      end();
    });
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const viaProxy = new URL(target);
  viaProxy.port = String((listener.address() as AddressInfo).port);
  proxy.url = viaProxy.href;
  return proxy;
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`connections to Postgres${POSTGRES_SKIPPED}`, () => {
  it('a backend that ends in the same packet as its answer fails no statement and brings nothing down', async () => {
    const proxy = await holdingProxy(await freshDatabase(server!));
    const db = new Database({ url: proxy.url, poolSize: 1, statementTimeoutMs: 5000, log: pino({ level: 'silent' }) });
    try {
      // The session ends itself (FATAL 57P05) once idle for 100 ms: after its next answer.
      await db.query("SET idle_session_timeout = '100ms'");
      proxy.holding = true;
      const answered = db.query<{ one: number }>('SELECT 1 AS one');
      // The answer, then the FATAL 100 ms after it, kept and passed on together.
      await pause(400);
      proxy.release();
      expect(await answered).toEqual([{ one: 1 }]);
      // Before: the FATAL came with no statement under way, on a connection still checked out and heard by no one:
      // an 'error' event unheard, and the process went down. Now that connection is let go, and the next opens anew.
      expect(await db.query<{ two: number }>('SELECT 2 AS two')).toEqual([{ two: 2 }]);
    } finally {
      await db.close();
      await proxy.close();
    }
  });
});
