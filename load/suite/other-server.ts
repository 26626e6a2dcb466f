/**
 * The server a comparison runs against (the Go service), at a URL: either
 * started by a command for each round and stopped after it — so its memory
 * high-water mark is that round's peak, and no round inherits the heap of the
 * one before — or already running, found by its pid or by the port it listens
 * on, whose memory is then sampled while the load runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import type { LoadTarget } from './drive.js';
import { pidServing } from '../lib/proc.js';

export interface OtherServer {
  readonly url: URL;
  /** The command that starts it for each round, or null if it runs already. */
  readonly command: string | null;
  /** Throws, saying why, if a round could not start now: checked before the first round, so a run does not fail halfway. */
  check(): Promise<void>;
  startRound(): Promise<LoadTarget>;
  endRound(): Promise<void>;
}

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
export function commandServer(url: URL, command: string): OtherServer {
  let child: ChildProcess | undefined;
  let output: string[] = [];
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

  const check = async (): Promise<void> => {
    if (await reachable(url)) {
      const holder = pidServing(url);
      throw new Error(`something already listens at ${url.host}${holder ? ` (pid ${holder})` : ''}: stop it first, or leave out --against-cmd to measure it as it runs`);
    }
  };

  return {
    url,
    command,
    check,
    startRound: async () => {
      await check();
      output = [];
      const started = spawn('/bin/sh', ['-c', command], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      const keep = (chunk: Buffer): void => {
        output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        output = output.slice(-50);
      };
      started.stdout.on('data', keep);
      started.stderr.on('data', keep);
      // A first run may build the server: give it two minutes.
      const readyBy = performance.now() + 120_000;
      while (!(await reachable(url))) {
        if (started.exitCode !== null || started.signalCode !== null) {
          throw new Error(`--against-cmd ended (${started.exitCode ?? started.signalCode}) before listening at ${url.host}:\n${output.join('\n')}`);
        }
        if (performance.now() > readyBy) {
          stopGroup('SIGKILL');
          throw new Error(`--against-cmd did not listen at ${url.host} within 120 s:\n${output.join('\n')}`);
        }
        await pause(100);
      }
      return { url, isThisService: false, pid: pidServing(url) ?? started.pid ?? null, freshProcess: true, serverEnv: {}, output: () => output };
    },
    endRound: async () => {
      if (!child) return;
      stopGroup('SIGTERM');
      if (!(await stoppedWithin(5000))) {
        stopGroup('SIGKILL');
        await stoppedWithin(5000);
      }
      child = undefined;
    },
  };
}
