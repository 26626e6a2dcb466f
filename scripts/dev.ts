/**
 * `npm run dev`: the service, rebuilt on every change and restarted after
 * every build without errors, its log readable on a terminal.
 *
 * - `tsc --watch` rebuilds dist/. Worker threads always run dist/ (see
 *   src/paths.ts), and `node --watch` restarts only on files the
 *   main thread imports — not on a step's code, which only workers load.
 * - After a build without errors the server is stopped the way an operator
 *   stops it — SIGTERM: orders in flight are answered — and started again
 *   once it has exited. After a build with errors it is left running.
 * - The server and tsc run in process groups of their own, so a Ctrl-C at
 *   the terminal reaches this script alone, which passes one signal on.
 *   (npm passes the same Ctrl-C on to this script too, a moment later: a signal
 *   within DUPLICATE_SIGNAL_MS of the one before is taken as the same one.)
 *   A second Ctrl-C makes the server exit at once, as it does by itself.
 * - On a terminal the server's JSON lines go through pino-pretty. LOG_LEVEL
 *   is debug unless set (a step's lines then show its thread and duration),
 *   and LOG_BUFFER off, so that each line shows as it is written.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { stripVTControlCharacters } from 'node:util';
import { prettyFactory } from 'pino-pretty';
import { pathOf, PROJECT_ROOT, TYPESCRIPT_COMPILER } from '../src/paths.js';
import { SERVER_NODE_FLAGS } from '../src/runtime.js';

const ROOT = pathOf(PROJECT_ROOT);
const TSC = pathOf(TYPESCRIPT_COMPILER);
const MAIN = 'dist/src/main.js';
/** npm's forwarded copy of a Ctrl-C arrives within milliseconds; a person's second Ctrl-C takes longer. */
const DUPLICATE_SIGNAL_MS = 500;
/** tsc's last line after each build: "Found 0 errors. Watching for file changes." */
const BUILD_DONE = /Found (\d+) errors?\. Watching for file changes/;

const onTerminal = process.stdout.isTTY === true;
const prettify = onTerminal
  ? prettyFactory({ colorize: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
  : undefined;

const note = (message: string): void => {
  process.stderr.write(`[dev] ${message}\n`);
};

interface Server {
  readonly child: ChildProcess;
  /** Signals this script has sent it: a second one makes it exit without draining. */
  signalsSent: number;
}

let server: Server | undefined;
/** Set once a signal asked this script to stop: nothing is started any more. */
let stopping = false;
let restartWanted = false;
let lastSignalAt = Number.NEGATIVE_INFINITY;
let serverExitCode = 0;

const tsc = spawn(
  process.execPath,
  [TSC, '-b', 'tsconfig.build.json', '--watch', '--preserveWatchOutput', ...(onTerminal ? ['--pretty'] : [])],
  {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  },
);
createInterface({ input: tsc.stdout, crlfDelay: Infinity }).on('line', (line) => {
  process.stderr.write(`${line}\n`);
  const found = BUILD_DONE.exec(stripVTControlCharacters(line));
  if (found) built(Number(found[1]));
});
tsc.on('close', (code, signal) => {
  if (!stopping) {
    note(`tsc ended (${signal ?? `exit code ${code}`}); stopping`);
    stop('SIGTERM');
  }
  finishIfDone();
});

function built(errors: number): void {
  if (stopping) return;
  if (errors > 0) {
    note(
      server
        ? 'the build has errors: the server keeps running'
        : 'the build has errors: the server starts after a build without',
    );
    return;
  }
  if (!server) return startServer();
  restartWanted = true;
  if (server.signalsSent === 0) {
    note('rebuilt: restarting the server once its orders in flight are answered');
    signal(server, 'SIGTERM');
  }
}

function startServer(): void {
  const child = spawn(process.execPath, ['--enable-source-maps', ...SERVER_NODE_FLAGS, MAIN], {
    cwd: ROOT,
    env: {
      ...process.env,
      LOG_LEVEL: process.env['LOG_LEVEL'] || 'debug',
      LOG_BUFFER: process.env['LOG_BUFFER'] || 'off',
    },
    stdio: ['ignore', prettify ? 'pipe' : 'inherit', 'inherit'],
    detached: true,
  });
  if (prettify)
    createInterface({ input: child.stdout!, crlfDelay: Infinity }).on('line', (line) =>
      process.stdout.write(prettify(line)),
    );
  const started: Server = { child, signalsSent: 0 };
  server = started;
  // 'close', not 'exit': every line it wrote has been passed on by then.
  child.on('close', (code, signal) => {
    if (server === started) server = undefined;
    serverExitCode = code ?? 1;
    if (stopping) return finishIfDone();
    if (restartWanted) {
      restartWanted = false;
      return startServer();
    }
    note(`the server ended (${signal ?? `exit code ${code}`}); it starts again after the next build without errors`);
  });
}

function signal(target: Server, name: NodeJS.Signals): void {
  target.signalsSent++;
  target.child.kill(name);
}

function stop(name: NodeJS.Signals): void {
  const first = !stopping;
  stopping = true;
  if (first) tsc.kill('SIGTERM');
  // Already draining for a restart: only a second signal of the person's cuts it short.
  if (server && (!first || server.signalsSent === 0)) {
    if (first) note('stopping: the server answers its orders in flight (Ctrl-C again to exit at once)');
    signal(server, name);
  }
  finishIfDone();
}

function finishIfDone(): void {
  const tscEnded = tsc.exitCode !== null || tsc.signalCode !== null;
  if (stopping && !server && tscEnded) process.exit(serverExitCode);
}

const onSignal = (received: NodeJS.Signals): void => {
  const now = performance.now();
  if (now - lastSignalAt < DUPLICATE_SIGNAL_MS) return;
  lastSignalAt = now;
  // The server drains on SIGTERM and SIGINT; a closed terminal's SIGHUP would kill it outright.
  stop(received === 'SIGHUP' ? 'SIGTERM' : received);
};
for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(name, onSignal);

// Whatever ends this script (a bug included), it leaves no process behind.
process.on('exit', () => {
  for (const child of [tsc, server?.child])
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

note(`watching the sources; the server (${MAIN}) restarts after each build without errors. Ctrl-C stops.`);
