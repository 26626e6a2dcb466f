/**
 * This service for a scenario or a round: a server started for it, with the
 * scenario's settings (and the run's --server-env on top), its output to a
 * log file of the run; or, with LOAD_URL, the server running there, whose
 * settings are then its own.
 */
import { pidServing } from '../lib/proc.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import type { StartServer } from './comparison.js';

export function thisService(
  externalUrl: string | undefined,
  serverEnvOverride: Readonly<Record<string, string>>,
): StartServer {
  if (externalUrl) {
    const url = new URL(externalUrl);
    return async () => ({
      target: { url, isThisService: true, pid: pidServing(url), freshProcess: false, serverEnv: null },
      stop: async () => {},
    });
  }
  return async (scenarioEnv, logFile) => {
    const serverEnv = { ...scenarioEnv, ...serverEnvOverride };
    return startedForRound(await startServerProcess(serverEnv, { logFile }), serverEnv, true);
  };
}

/** A server process started for a round as the round's target, and what stops it (SIGTERM, then its exit). */
export function startedForRound(
  server: ServerProcess,
  serverEnv: Readonly<Record<string, string>>,
  isThisService: boolean,
): Awaited<ReturnType<StartServer>> {
  return {
    target: {
      url: server.url,
      isThisService,
      pid: server.child.pid ?? null,
      freshProcess: true,
      serverEnv,
      output: () => server.stdout,
    },
    stop: async () => {
      if (server.child.exitCode === null) {
        server.child.kill('SIGTERM');
        await server.exited;
      }
    },
  };
}
