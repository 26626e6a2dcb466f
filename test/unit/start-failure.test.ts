/**
 * How a start that failed ends the process: Postgres not serving right now
 * — whichever step of the start met it, in whatever form the driver raised
 * it — is exit 69, which the primary of INSTANCES=N retries after a pause;
 * a schema this code refuses is 78; anything else is our own failure.
 */
import { createServer, type AddressInfo } from 'node:net';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { SideThread } from '../../src/side-threads/side-thread.js';
import { DatabaseUnavailable, MigrationError } from '../../src/postgres/failures.js';
import { startFailure } from '../../src/start-failure.js';
import { compiledFixture } from '../support/compiled.js';

/** As pg raises a server's refusal: an Error with the SQLSTATE in `code`. */
const pgError = (code: string, message: string): Error => Object.assign(new Error(message), { code });
const URL = 'postgres://app:***@db:5432/orders';

describe('a start that failed', () => {
  it.each([
    [
      'Postgres shutting down (57P03), raised raw by the LISTEN connection (seen by the chaos harness)',
      pgError('57P03', 'the database system is shutting down'),
      69,
    ],
    ['Postgres starting up (57P03)', pgError('57P03', 'the database system is starting up'), 69],
    [
      'a connection refused',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      69,
    ],
    ['Postgres unreachable, as the pool reports it', new DatabaseUnavailable('Postgres is unreachable'), 69],
    [
      'a schema from newer code',
      new MigrationError('history_mismatch', 'the database has migration 9, this code knows 1 to 3'),
      78,
    ],
  ])('%s: exit %i', (_name, error, exitCode) => {
    expect(startFailure(error, URL)?.exitCode).toBe(exitCode);
  });

  it('names where Postgres was looked for, without its password', () => {
    expect(startFailure(pgError('57P03', 'the database system is shutting down'), URL)?.line).toBe(
      `cannot reach Postgres at ${URL}: the database system is shutting down`,
    );
  });

  it('a port another process holds: one line naming it and the setting to change, exit 78', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as AddressInfo;
    const second = createServer();
    const error = await new Promise<unknown>((resolve) => {
      second.once('error', resolve);
      second.listen(port, '127.0.0.1');
    });
    holder.close();
    expect(startFailure(error, '')).toEqual({
      exitCode: 78,
      line: `port ${port} on 127.0.0.1 is taken by another process; set PORT to another port`,
    });
  });

  it.each([
    ['an SQL error (a bug)', pgError('42601', 'syntax error at or near "SELEC"')],
    ['a bug of ours', new TypeError('cannot read properties of undefined')],
  ])('%s is no reason to wait for Postgres: our own failure (exit 1, logged)', (_name, error) => {
    expect(startFailure(error, URL)).toBeUndefined();
  });

  it("keeps the cause a thread's start met: Postgres shutting down under the webhook thread is exit 69, not our own failure", async () => {
    const thread = new SideThread({
      workerFile: compiledFixture('side-thread-refused'),
      name: 'webhook-delivery',
      data: {},
      log: pino({ level: 'silent' }),
      restart: true,
    });
    const failed: unknown = await thread.start().then(
      () => undefined,
      (error: unknown) => error,
    );
    await thread.close();
    expect(failed).toBeInstanceOf(Error);
    expect(startFailure(failed, URL)).toEqual({
      exitCode: 69,
      line: `cannot reach Postgres at ${URL}: the webhook-delivery thread could not start: the database system is shutting down`,
    });
  });
});
