/**
 * A throwaway Postgres for a test file: a fresh cluster in a temporary
 * directory, on a free port, not durable (no fsync), gone after stop() —
 * server processes and directory alike. Start it in beforeAll and stop it
 * in afterAll: a start costs a few hundred milliseconds (a copy of a
 * template cluster made once per installation), too much for every test.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { postmasterPid } from '../../src/postgres/embedded/server.js';
import { startThrowawayServer } from '../../src/postgres/embedded/throwaway.js';

export interface TestPostgres {
  /** postgres://… for the superuser and database `postgres`. */
  readonly url: string;
  readonly dataDir: string;
  stop(): Promise<void>;
}

export async function startTestPostgres(): Promise<TestPostgres> {
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
  if (postmaster === undefined) return [];
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
