/**
 * The Node this service runs on: the line package.json's `engines` names,
 * which the project brings itself as a dependency (the npm registry's `node`
 * package: `npm ci` puts its binary in node_modules/.bin, and every npm
 * script runs on it). A machine's own Node may be older — Node 20 is past its
 * end of life — so a start on any other Node is refused, with a line saying
 * how to run the right one, rather than left to fail in some odd way later.
 */
import { setFlagsFromString } from 'node:v8';
import { PACKAGE } from './version.js';

/** The `engines.node` range: a caret range (`^26.10.0`), the only form the project writes. */
export const REQUIRED_NODE: string = PACKAGE.engines.node;

/** Why `version` (as `process.versions.node` spells it) cannot run this service, or undefined if it can. */
export function unsupportedRuntime(version: string, required: string = REQUIRED_NODE): string | undefined {
  const wanted = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(required);
  if (!wanted)
    throw new Error(
      `package.json's engines.node must be a caret range such as ^26.10.0, got ${JSON.stringify(required)}`,
    );
  const have = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  const [major, minor, patch] = (have ?? ['', '0', '0', '0']).slice(1).map(Number) as [number, number, number];
  const [wantMajor, wantMinor, wantPatch] = wanted.slice(1).map(Number) as [number, number, number];
  const fits = major === wantMajor && (minor > wantMinor || (minor === wantMinor && patch >= wantPatch));
  if (fits) return undefined;
  return `this service runs on Node ${required} (package.json's engines), not ${version}: start it with \`npm start\`, which runs the Node that \`npm ci\` installed (node_modules/.bin/node)`;
}

/**
 * The V8 flags the server process starts with: `npm start`, the image's CMD,
 * `npm run dev`, the load suite and the chaos harness all pass them
 * (test/unit/runtime.test.ts holds package.json and the Dockerfile to them).
 * What each bought is measured in docs/decisions/the-runtime-and-its-heaps.md.
 *
 * A young generation capped at 8 MB a semi-space. Left to itself, V8 grows
 * it with the allocation rate, and an order's objects live as long as its
 * steps wait: at 5,000 orders in flight each isolate's young generation grew
 * to its maximum and the process's peak RSS with it. A smaller cap still
 * costs CPU per order. It cannot be set from inside the process: the main
 * isolate's heap is sized before any of our code runs.
 *
 * V8's own helper threads sized to the machine: `--v8-pool-size=0` is the
 * available cores less one (1 on two cores), where Node's default is 4
 * whatever the cores. Those helpers mark and sweep the heaps of every isolate
 * in the process (the main thread's and each step thread's) beside their
 * threads; four of them on two cores take the cores from the step threads
 * while a collection is under way, and every courier slot stands still with
 * orders waiting: the overhead scenario's p99.
 *
 * An old generation let grow by half of what a full collection found live
 * before the next one (`--heap-growing-percent=50`), where V8, left to itself,
 * lets it grow up to fourfold when it collects fast. An order in flight keeps
 * its objects for as long as its steps sleep, long enough to be promoted, and
 * they are garbage once it is answered: at 5,000 orders in flight most of the
 * main thread's old space is garbage not yet collected.
 *
 * A collection of the old generation begun halfway from the size the last
 * one left to the limit (by a task), at three quarters at the latest, not
 * when the room left is about a young generation's (V8's own rule). The marking
 * runs beside the isolate, on one helper here, while the isolate goes on
 * promoting what survives: when a wave of thousands of orders arrives, its
 * objects reached the limit and ran far past it before the marking that
 * began there was done.
 * While a collection marks, V8 lets a young generation grow past the cap
 * below (test/unit/runtime.test.ts's probe shows how far); the peak includes it.
 */
export const SERVER_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=8',
  '--v8-pool-size=0',
  '--heap-growing-percent=50',
  '--incremental-marking-soft-trigger=50',
  '--incremental-marking-hard-trigger=75',
];

/**
 * Every thread the server starts after this (the step threads; the relay,
 * delivery and trace-export threads) gets a young generation of 1 MB a
 * semi-space, the main thread keeping the 8 of SERVER_NODE_FLAGS.
 *
 * V8 sizes an isolate's young generation once, when the isolate is made, and
 * a `--max-semi-space-size` flag wins over the `resourceLimits` a worker is
 * given (its `maxYoungGenerationSizeMb`): so the process's flag, set here,
 * is the only say a thread's young generation has. The step pool's own cap of
 * 16 MB had been overruled by the main thread's flag from the start.
 *
 * A step thread's young objects are a step's few calls and its answer, and
 * under `wide` 5,000 orders' steps asleep, which are promoted whatever the
 * size: a larger young generation only holds them longer, on every thread
 * (docs/decisions/the-runtime-and-its-heaps.md).
 */
export const THREAD_SEMI_SPACE_MB = 1;

/** Size the young generation of every thread made from now on (a test holds a step thread to it). */
export function sizeThreadYoungGenerations(): void {
  setFlagsFromString(`--max-semi-space-size=${THREAD_SEMI_SPACE_MB}`);
}
