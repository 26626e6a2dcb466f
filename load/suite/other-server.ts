/**
 * The server a comparison runs against (the Go service), at a URL: either
 * started by a command for each round and stopped after it — so its memory
 * high-water mark is that round's peak, and no round inherits the heap of the
 * one before — or already running, found by its pid or by the port it listens
 * on, whose memory is then sampled while the load runs. What a started server
 * writes goes to a log file of the round, not through the suite's process,
 * where it would take CPU from the load generator.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { connect } from 'node:net';
import { linesOf } from '../lib/server-process.js';
import type { LoadTarget } from './drive.js';
import { programOf } from './executables.js';
import { pidServing } from '../lib/proc.js';

/** Where a server's output goes for one round: a log file in the run's folder, by name. */
export type LogFileFor = (name: string) => string;

export interface OtherServer {
  readonly url: URL;
  /** The command that starts it for each round, or null if it runs already. */
  readonly command: string | null;
  /**
   * Throws, saying why, if a round could not start now: checked before the
   * first round, so that a run does not fail halfway. A server started by a
   * command is started once and stopped (a first start may build it), its
   * output in a log file named `other.check`.
   */
  check(logFile: LogFileFor): Promise<void>;
  /** Its output, if the suite starts it, goes to `logFile`. */
  startRound(logFile: string): Promise<LoadTarget>;
  endRound(): Promise<void>;
}

export interface CommandOptions {
  /** Where the command runs (a relative path in it is read from there). */
  readonly cwd: string;
  /** Said when the command's program is not there: where it comes from, how to point elsewhere. */
  readonly whenMissing?: string;
}

/** The last lines a server wrote, to show why it did not start. */
const tail = (logFile: string): string => [...linesOf(logFile).slice(-30), `(all of it: ${logFile})`].join('\n');

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const portOf = (url: URL): number => Number(url.port || (url.protocol === 'https:' ? 443 : 80));

/** Whether something accepts TCP connections at the URL's host and port. */
function reachable(url: URL): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: portOf(url), timeout: 1000 });
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/** A server that runs already; `pid` names its process, else the one listening on the URL's port is looked up. */
export function runningServer(url: URL, pid: number | undefined): OtherServer {
  const check = async (): Promise<void> => {
    if (!(await reachable(url))) throw new Error(`nothing answers at ${url.origin}: start it, or give --against-cmd`);
  };
  return {
    url,
    command: null,
    check,
    startRound: async () => {
      await check();
      return { url, isThisService: false, pid: pid ?? pidServing(url), freshProcess: false, serverEnv: null };
    },
    endRound: async () => {},
  };
}

/**
 * A server started with `command` (through /bin/sh, in a process group of its
 * own) for each round, and stopped — the whole group, SIGTERM, then SIGKILL
 * if it still listens 5 s later — after it. It must listen at the URL; the
 * suite refuses to start it if something else listens there already.
 */
export function commandServer(url: URL, command: string, options: CommandOptions): OtherServer {
  let child: ChildProcess | undefined;
  /** The group, not the shell alone: the shell may have ended and left the server it started running. */
  const stopGroup = (signal: NodeJS.Signals): void => {
    if (child?.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // every process of the group is gone already
    }
  };
  // Never leave it running behind an interrupted suite.
  process.once('exit', () => stopGroup('SIGKILL'));
  const stoppedWithin = async (ms: number): Promise<boolean> => {
    const by = performance.now() + ms;
    while (await reachable(url)) {
      if (performance.now() > by) return false;
      await pause(50);
    }
    return true;
  };

  const portFree = async (): Promise<void> => {
    if (await reachable(url)) {
      const holder = pidServing(url);
      throw new Error(
        `something already listens at ${url.host}${holder ? ` (pid ${holder})` : ''}: stop it first, or leave out --against-cmd to measure it as it runs`,
      );
    }
  };

  const startRound = async (logFile: string): Promise<LoadTarget> => {
    await portFree();
    const fd = openSync(logFile, 'a');
    let started: ChildProcess;
    try {
      started = spawn('/bin/sh', ['-c', command], { cwd: options.cwd, detached: true, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd); // the shell has its own copy
    }
    child = started;
    // A first run may build the server: give it two minutes.
    const readyBy = performance.now() + 120_000;
    while (!(await reachable(url))) {
      if (started.exitCode !== null || started.signalCode !== null) {
        throw new Error(
          `${command} ended (${started.exitCode ?? started.signalCode}) before listening at ${url.host}:\n${tail(logFile)}`,
        );
      }
      if (performance.now() > readyBy) {
        stopGroup('SIGKILL');
        throw new Error(`${command} did not listen at ${url.host} within 120 s:\n${tail(logFile)}`);
      }
      await pause(100);
    }
    return {
      url,
      isThisService: false,
      pid: pidServing(url) ?? started.pid ?? null,
      freshProcess: true,
      serverEnv: {},
      output: () => linesOf(logFile),
    };
  };

  const endRound = async (): Promise<void> => {
    if (!child) return;
    stopGroup('SIGTERM');
    if (!(await stoppedWithin(5000))) {
      stopGroup('SIGKILL');
      await stoppedWithin(5000);
    }
    child = undefined;
  };

  return {
    url,
    command,
    check: async (logFile) => {
      const program = programOf(command, options.cwd);
      if (program && !program.found) {
        throw new Error(
          `cannot start the other server: ${program.program} is not there (${program.path}).${options.whenMissing ? `\n${options.whenMissing}` : ''}`,
        );
      }
      await portFree();
      try {
        await startRound(logFile('other.check'));
      } finally {
        await endRound();
      }
    },
    startRound,
    endRound,
  };
}
