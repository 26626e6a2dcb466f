/**
 * The server as `npm start` runs it: dist/src/main.js in a child process,
 * for what only a whole process shows — its stdout, its signals, its exit,
 * its memory. Used by the load suite and by the tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { compiledModule, pathOf } from '../../src/paths.js';

/** dist/src/main.js, whether this module runs from the sources (tests) or from dist/ (the load suite). */
const MAIN = pathOf(compiledModule('src/main'));

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: URL;
  readonly stdout: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

export interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Lines of the server's output kept in memory (the start-up line is read long before any is dropped). */
const KEPT_LINES = 20_000;

function launch(env: Record<string, string>): { child: ChildProcess; stdout: string[]; stderr: string[] } {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    stdout.push(...lines);
    // A server logging every request under load writes a lot: keep the latest.
    if (stdout.length > KEPT_LINES) stdout.splice(0, stdout.length - KEPT_LINES);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  return { child, stdout, stderr };
}

/** Start the server and resolve once it prints where it listens. */
export async function startServerProcess(env: Record<string, string> = {}): Promise<ServerProcess> {
  const { child, stdout } = launch(env);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })));
  const url = await new Promise<URL>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within 10 s: ${stdout.join('\n')}`));
    }, 10_000);
    const look = (): void => {
      const match = stdout.map((line) => /listening on (http:\/\/[^\s"]+)/.exec(line)).find(Boolean);
      if (match) {
        clearTimeout(timer);
        resolve(new URL(match[1]!));
      } else if (child.exitCode !== null) {
        clearTimeout(timer);
        reject(new Error(`server exited with ${child.exitCode}`));
      } else setTimeout(look, 10);
    };
    look();
  });
  return { child, url, stdout, exited };
}

/** Run the server until it exits by itself (it should refuse to start). */
export function runToExit(env: Record<string, string>): Promise<Finished> {
  const { child, stdout, stderr } = launch(env);
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout: stdout.join('\n'), stderr: stderr.join('') })));
}
