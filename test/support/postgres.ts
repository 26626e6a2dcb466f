/**
 * Postgres for a test file. startTestPostgres: the run's shared server
 * (test/support/shared-postgres.ts), whose databases are cloned from one
 * migrated template — stop() leaves it running for the other files. A file
 * that stops, freezes or inspects its server's processes starts one of its
 * own (startOwnTestPostgres): a fresh cluster in a temporary directory, on a
 * free port, not durable (no fsync), gone after stop() — server processes
 * and directory alike. Start either in beforeAll and stop it in afterAll: a
 * server of its own costs a few hundred milliseconds to start (a copy of a
 * template cluster made once per installation), too much for every test.
 */
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { inject } from 'vitest';
import { postmasterPid, startEmbeddedServer, whyPostgresCannotRunHere } from '../../scripts/postgres/server.js';
import { startThrowawayServer } from '../../scripts/postgres/throwaway.js';

/**
 * Why the Postgres tests are skipped on this machine, or undefined: run as
 * root from a directory the `postgres` user cannot search (see
 * whyPostgresCannotRunHere). `.ci/run` sets REQUIRE_POSTGRES, so that CI
 * fails there instead of skipping them.
 */
export const POSTGRES_UNAVAILABLE = process.env['REQUIRE_POSTGRES'] ? undefined : whyPostgresCannotRunHere();
/** A suffix for the names of what is skipped, saying why. */
export const POSTGRES_SKIPPED = POSTGRES_UNAVAILABLE === undefined ? '' : ` — SKIPPED: ${POSTGRES_UNAVAILABLE}`;
if (POSTGRES_UNAVAILABLE !== undefined) console.warn(`Postgres tests${POSTGRES_SKIPPED}`);

/** What the files are given of the run's shared server (test/support/shared-postgres.ts). */
export interface SharedPostgres {
  /** postgres://… for the superuser and database `postgres`. */
  readonly url: string;
  readonly dataDir: string;
  /** The migrated database to clone each file's databases from. */
  readonly template: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    sharedPostgres: SharedPostgres | undefined;
  }
}

export interface TestPostgres {
  /** postgres://… for the superuser and database `postgres`. */
  readonly url: string;
  readonly dataDir: string;
  /** A migrated database that freshDatabase clones; without it, fresh databases are empty. */
  readonly template?: string;
  stop(): Promise<void>;
}

/**
 * The run's shared server where the project starts one (vitest.config.ts), else one of the file's own. Its databases
 * must be the file's own (freshDatabase), and nothing may stop or freeze it.
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const shared = inject('sharedPostgres');
  if (shared === undefined) return startOwnTestPostgres();
  return { ...shared, stop: async () => {} };
}

/** A server of the file's own, for a test that stops it, freezes it, or looks at its processes or locks. */
export async function startOwnTestPostgres(): Promise<TestPostgres> {
  const server = await startThrowawayServer();
  return { url: server.url(), dataDir: server.dataDir, stop: () => server.stop() };
}

/**
 * The server processes of a cluster running in `dataDir`: its postmaster and
 * the postmaster's children (checkpointer, backends…). Empty once it has
 * stopped. Read from /proc: Linux only, as the rest of the test suite.
 */
export async function serverProcesses(dataDir: string): Promise<number[]> {
  const postmaster = await postmasterPid(dataDir);
  return postmaster === undefined ? [] : processTree(postmaster);
}

/** A postmaster and its children, as /proc has them now. */
export function processTree(postmaster: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = tryRead(`/proc/${entry}/stat`);
    // The parent pid is the second field after the ")" that closes the command name.
    const parent = Number(stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (Number(entry) === postmaster || parent === postmaster) pids.push(Number(entry));
  }
  return pids;
}

/** Which of `pids` still run (a zombie counts as gone). */
export function stillRunning(pids: readonly number[]): number[] {
  return pids.filter((pid) => {
    const stat = tryRead(`/proc/${pid}/stat`);
    return stat !== undefined && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  });
}

function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * One statement on `databaseUrl`, on a connection of its own: what a test reads or changes behind the service's back.
 */
export async function sql<Row extends object>(
  databaseUrl: string,
  text: string,
  values: readonly unknown[] = [],
): Promise<Row[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<Row>(text, [...values])).rows;
  } finally {
    await client.end();
  }
}

let databases = 0;

/**
 * A fresh database on `server`; its URL. Cheap (a copy of the server's migrated template, or of template1 — empty — on
 * a server of the file's own): one per test keeps tests apart.
 */
export async function freshDatabase(server: TestPostgres): Promise<string> {
  const name = `t${process.pid}_${++databases}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}${server.template ? ` TEMPLATE ${server.template}` : ''}`);
  } finally {
    await admin.end();
  }
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.href;
}

export interface RestartablePostgres extends TestPostgres {
  /** Stop the server (a fast shutdown: sessions are cut), keeping its data; resolves once it has exited. */
  halt(): Promise<void>;
  /** Start it again on the same port and data. */
  resume(): Promise<void>;
}

/** A throwaway Postgres that a test may stop and start again, as an operator would. */
export async function startRestartablePostgres(): Promise<RestartablePostgres> {
  let server = await startThrowawayServer();
  const { dataDir, port } = server;
  let halted = false;
  const resume = async (): Promise<void> => {
    server = await startEmbeddedServer({ dataDir, port, persistent: false, durable: false });
    halted = false;
  };
  return {
    url: server.url(),
    dataDir,
    resume,
    async halt() {
      const pid = await postmasterPid(dataDir);
      if (pid === undefined) return;
      halted = true;
      process.kill(pid, 'SIGINT');
      while (stillRunning([pid]).length > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    },
    async stop() {
      if (halted) await resume();
      await server.stop();
    },
  };
}
