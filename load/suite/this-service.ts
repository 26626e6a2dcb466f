/**
 * This service for a scenario or a round: a server started for it, with the
 * scenario's settings (and the run's --server-env on top), its output to a
 * log file of the run; or, with LOAD_URL, the server running there, whose
 * settings are then its own.
 */
import { pidServing } from '../lib/proc.js';
import { startServerProcess } from '../lib/server-process.js';
import type { StartThisService } from './comparison.js';

export function thisService(
  externalUrl: string | undefined,
  serverEnvOverride: Readonly<Record<string, string>>,
): StartThisService {
  if (externalUrl) {
    const url = new URL(externalUrl);
    return async () => ({
      target: { url, isThisService: true, pid: pidServing(url), freshProcess: false, serverEnv: null },
      stop: async () => {},
    });
  }
  return async (scenarioEnv, logFile) => {
    const serverEnv = { ...scenarioEnv, ...serverEnvOverride };
    const server = await startServerProcess(serverEnv, { logFile });
    return {
      target: {
        url: server.url,
        isThisService: true,
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
  };
}
