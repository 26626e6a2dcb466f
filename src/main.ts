/**
 * The entry point (`npm start`). It first makes sure it runs on the Node the
 * project brings (src/runtime.ts) — before loading anything an older Node
 * could not even parse — then runs the server process (server-process.ts).
 */
import { EXIT_BAD_CONFIG } from './exit-codes.js';
import { unsupportedRuntime } from './runtime.js';

const wrongRuntime = unsupportedRuntime(process.versions.node);
if (wrongRuntime) {
  process.stderr.write(`${wrongRuntime}\n`);
  process.exit(EXIT_BAD_CONFIG);
}
await import('./server-process.js');
