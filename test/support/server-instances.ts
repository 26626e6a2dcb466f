/**
 * Real server processes (`npm start`'s, dist/src/main.js) on one throwaway
 * Postgres for the test file: each test takes a fresh database of it and
 * starts its instances, which are SIGKILLed after it if still running.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startServerProcess, type ServerProcess } from '../../load/lib/server-process.js';
import { POSTGRES_UNAVAILABLE, startTestPostgres, type TestPostgres } from './postgres.js';

export interface ServerInstances {
  /** The file's Postgres (once its tests run). */
  server(): TestPostgres;
  /** An instance on `databaseUrl`: two threads, warnings and worse logged, `env` over that. */
  instance(databaseUrl: string, env?: Record<string, string>): Promise<ServerProcess>;
}

export function usePostgresInstances(): ServerInstances {
  let server: TestPostgres | undefined;
  let started: ServerProcess[] = [];
  beforeAll(async () => {
    if (POSTGRES_UNAVAILABLE === undefined) server = await startTestPostgres();
  });
  afterEach(async () => {
    for (const instance of started) if (isRunning(instance)) instance.child.kill('SIGKILL');
    await Promise.all(started.map((instance) => instance.exited));
    started = [];
  });
  afterAll(async () => {
    await server?.stop();
  });
  return {
    server: () => server!,
    async instance(databaseUrl, env = {}) {
      const process = await startServerProcess({ THREADS: '2', LOG_LEVEL: 'warn', DATABASE_URL: databaseUrl, ...env });
      started.push(process);
      return process;
    },
  };
}

export const isRunning = (target: ServerProcess): boolean =>
  target.child.exitCode === null && target.child.signalCode === null;

/** The process's output lines that are JSON (its log lines), parsed. */
export const jsonLines = <Line>(target: ServerProcess): Line[] =>
  target.stdout.flatMap((line) => {
    try {
      return [JSON.parse(line) as Line];
    } catch {
      return [];
    }
  });
