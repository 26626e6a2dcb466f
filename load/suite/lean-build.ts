/**
 * The lean build (load/lean/server.ts) for a round of a comparison: started for the round with the service's own V8
 * flags (src/runtime.ts, as load/lib/server-process.ts starts the service), its output to a log file of the run, and
 * stopped after it. Its settings are its own and fixed, the Go service's: five couriers, a 10 s deadline.
 */
import { compiledModule, pathOf } from '../../src/paths.js';
import { startServerProcess } from '../lib/server-process.js';
import type { StartServer } from './comparison.js';
import { startedForRound } from './this-service.js';

const LEAN_MAIN = pathOf(compiledModule('load/lean/server'));

export const leanBuild: StartServer = async (_scenarioEnv, logFile) =>
  startedForRound(await startServerProcess({}, { logFile, main: LEAN_MAIN }), {}, false);
