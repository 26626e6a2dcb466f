/**
 * The entry point (`npm start`). It first makes sure it runs on the Node the
 * project brings (src/runtime.ts) — before loading anything an older Node
 * could not even parse — then runs the server process (server-process.ts).
 */
import { unsupportedRuntime } from './runtime.js';

/** sysexits' EX_CONFIG, as for any setting the service refuses to start with. */
const EXIT_WRONG_RUNTIME = 78;

const wrongRuntime = unsupportedRuntime(process.versions.node);
if (wrongRuntime) {
  process.stderr.write(`${wrongRuntime}\n`);
  process.exit(EXIT_WRONG_RUNTIME);
}
await import('./server-process.js');
