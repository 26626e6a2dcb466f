/**
 * The server as `npm start` runs it: dist/src/main.js in a child process,
 * for what only a whole process shows — its stdout, its signals, its exit,
 * its memory. Used by the load suite and by the tests.
 *
 * Its output goes one of two ways. Piped into this process, line by line, for
 * the tests, which read what it says as it says it. Or straight into a file
 * (`logFile`), for the load suite and the measurements: a server under load
 * logs every order, and reading that in the load generator's event loop takes
 * the CPU being measured (it cost this service ~10% of its throughput in one
 * harness). The file is read only when asked: for the "listening on" line at
 * start, and for the warnings a failed gate shows.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { compiledModule, pathOf } from '../../src/paths.js';
import { SERVER_NODE_FLAGS } from '../../src/runtime.js';

/** dist/src/main.js, whether this module runs from the sources (tests) or from dist/ (the load suite). */
const MAIN = pathOf(compiledModule('src/main'));

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: URL;
  /** Its stdout so far, line by line; with a log file, what the file holds (stdout and stderr) when read. */
  readonly stdout: readonly string[];
  /** Where its output goes, if to a file. */
  readonly logFile: string | null;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

export interface ServerOptions {
  /** Write stdout and stderr to this file (appended), not through this process. */
  readonly logFile?: string;
  /** Another build's dist/src/main.js to run (a baseline to compare with); this build's by default. */
  readonly main?: string;
  /** Node or V8 flags after SERVER_NODE_FLAGS, which they override (a V8 flag given twice: the last wins). */
  readonly extraNodeFlags?: readonly string[];
}

/** What a launch runs: which main, with which flags after the server's own. */
type Launch = Pick<ServerOptions, 'main' | 'extraNodeFlags'>;

export interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Lines of the server's output kept in memory (the start-up line is read long before any is dropped). */
const KEPT_LINES = 20_000;
/** How long a server may take to say where it listens before it is taken for stuck. */
const START_WITHIN_MS = 30_000;

interface Launched {
  readonly child: ChildProcess;
  readonly stdout: () => readonly string[];
  readonly stderr: () => string;
}

const spawnServer = (
  env: Record<string, string>,
  stdio: ['ignore', 'pipe' | number, 'pipe' | number],
  { main = MAIN, extraNodeFlags = [] }: Launch = {},
): ChildProcess =>
  spawn(process.execPath, [...SERVER_NODE_FLAGS, ...extraNodeFlags, main], {
    env: {
      PATH: process.env['PATH'] ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      // The caller's own, if it set one: the test suite turns the warm-up off for the hundreds of servers it starts
      // (vitest.config.ts); the load suite sets none, so its servers warm up as a user's do.
      ...(process.env['WARM_UP_MS'] === undefined ? {} : { WARM_UP_MS: process.env['WARM_UP_MS'] }),
      ...env,
    },
    stdio,
  });

/** The lines of a file, or none if it cannot be read (yet). */
export function linesOf(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

function launchToFile(env: Record<string, string>, logFile: string, launch: Launch): Launched {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawnServer(env, ['ignore', fd, fd], launch);
    return { child, stdout: () => linesOf(logFile), stderr: () => linesOf(logFile).join('\n') };
  } finally {
    closeSync(fd); // the child has its own copy
  }
}

function launchPiped(env: Record<string, string>, launch: Launch = {}): Launched {
  const child = spawnServer(env, ['ignore', 'pipe', 'pipe'], launch);
  const stdout: string[] = [];
  const stderr: string[] = [];
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    stdout.push(...lines);
    // A server logging every request under load writes a lot: keep the latest.
    if (stdout.length > KEPT_LINES) stdout.splice(0, stdout.length - KEPT_LINES);
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  return { child, stdout: () => stdout, stderr: () => stderr.join('') };
}

/** Start the server and resolve once it says where it listens. */
export async function startServerProcess(
  env: Record<string, string> = {},
  options: ServerOptions = {},
): Promise<ServerProcess> {
  const logFile = options.logFile ?? null;
  const { child, stdout } = logFile === null ? launchPiped(env, options) : launchToFile(env, logFile, options);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  const said = (): string => `${stdout().join('\n')}${logFile === null ? '' : `\n(${logFile})`}`;
  const url = await new Promise<URL>((resolve, reject) => {
    // A failure's deadline, not the expected wait (about a second): beside busy cores, a primary starting its
    // instances on Postgres said nothing for 10 s (postgres-cluster, at load 7).
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within ${START_WITHIN_MS / 1000} s: ${said()}`));
    }, START_WITHIN_MS);
    const look = (): void => {
      const match = stdout()
        .map((line) => /listening on (http:\/\/[^\s"]+)/.exec(line))
        .find(Boolean);
      if (match) {
        clearTimeout(timer);
        resolve(new URL(match[1]!));
      } else if (child.exitCode !== null) {
        clearTimeout(timer);
        reject(new Error(`server exited with ${child.exitCode}: ${said()}`));
      } else setTimeout(look, 10);
    };
    look();
  });
  return {
    child,
    url,
    exited,
    logFile,
    get stdout() {
      return stdout();
    },
  };
}

/** Run the server until it exits by itself (it should refuse to start). */
export function runToExit(env: Record<string, string>): Promise<Finished> {
  const { child, stdout, stderr } = launchPiped(env);
  return new Promise((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout: stdout().join('\n'), stderr: stderr() })),
  );
}
