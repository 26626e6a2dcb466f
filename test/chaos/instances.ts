/**
 * The service's instances, each its own process (`npm start`'s
 * dist/src/main.js) on a port of its own, and the harness as their
 * supervisor: it starts them, lets the nemesis kill (SIGKILL), stop
 * (SIGSTOP/SIGCONT) and gracefully stop (SIGTERM: its drain hands its runs
 * over, and it must exit 0) them, restarts what was killed or stopped after
 * the pause the nemesis chose, and restarts anything that exits by itself
 * after a backoff (an instance that cannot reach Postgres at start exits 69,
 * by design). An instance may run with settings of its own beside the
 * others' (a small MAX_INFLIGHT: a survivor filled to capacity).
 *
 * Each process writes its stdout and stderr straight to a file in the run's
 * folder (one per process: `instance-B.3.log` is B's third), not through the
 * harness's event loop: the checker reads the error lines there afterwards.
 * load/lib/server-process.ts finds a server's "listening on" line in its
 * output; here the port is chosen beforehand and readiness is GET /healthz
 * answering.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Attempt, Recorder } from './history.js';
import { getJson } from './http.js';
import { SERVER_NODE_FLAGS } from '../../src/runtime.js';

/** dist/src/main.js, from dist/test/chaos/. */
const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

/** sysexits' EX_UNAVAILABLE: Postgres could not be reached at start (src/main.ts). */
const EXIT_DATABASE_UNAVAILABLE = 69;
const RESTART_BACKOFF_MIN_MS = 250;
const RESTART_BACKOFF_MAX_MS = 4000;
const READY_POLL_MS = 100;

type State = Attempt['state'];

/** What /healthz says, as far as the harness reads it. */
export interface Health {
  readonly running_steps: number;
  readonly orders_in_flight: number;
  readonly couriers_busy: number;
  readonly durable?: {
    readonly instance_id: string | null;
    readonly store: 'up' | 'down';
    readonly lease: 'held' | 'lost';
    readonly orders_running: number;
    readonly couriers_held: number;
  };
}

class Instance {
  state: State = 'down';
  child: ChildProcess | undefined;
  /** Resolves once the current process has exited (and released its port). */
  gone: Promise<void> = Promise.resolve();
  generation = 0;
  /** The next exit is the nemesis's or the harness's doing. */
  exitExpected = false;
  /** The next exit is a graceful stop's: expected only with code 0. */
  terminating = false;
  restartTimer: NodeJS.Timeout | undefined;
  backoffMs = RESTART_BACKOFF_MIN_MS;
  logFile = '';

  constructor(
    readonly name: string,
    readonly port: number,
  ) {}
}

export class Supervisor {
  private readonly instances: Instance[];
  private stopping = false;

  constructor(
    names: readonly string[],
    ports: readonly number[],
    private readonly env: Readonly<Record<string, string>>,
    private readonly dir: string,
    private readonly recorder: Recorder,
    /** Settings of an instance's own, by name, over `env`. */
    private readonly ownEnv: Readonly<Record<string, Readonly<Record<string, string>>>> = {},
  ) {
    this.instances = names.map((name, i) => new Instance(name, ports[i]!));
  }

  get size(): number {
    return this.instances.length;
  }

  nameOf(i: number): string {
    return this.instances[i]!.name;
  }

  portOf(i: number): number {
    return this.instances[i]!.port;
  }

  /** The process of instance i now, if it has one, and whether it serves, is stopped, starts or is gone. */
  processOf(i: number): { readonly pid: number | undefined; readonly state: 'up' | 'paused' | 'starting' | 'down' } {
    const instance = this.instances[i]!;
    return { pid: instance.state === 'down' ? undefined : instance.child?.pid, state: instance.state };
  }

  isUp(i: number): boolean {
    return this.instances[i]!.state === 'up';
  }

  /** Instances not serving right now: killed, stopped or starting. */
  disrupted(): number {
    return this.instances.filter((instance) => instance.state !== 'up').length;
  }

  /** The log files written so far, every process's. */
  logFiles(): string[] {
    return this.instances.flatMap((instance) =>
      Array.from({ length: instance.generation }, (_, g) => this.logFileOf(instance, g + 1)),
    );
  }

  async startAll(): Promise<void> {
    for (const instance of this.instances) this.start(instance);
    await this.untilAllUp(30_000);
  }

  /** SIGKILL instance i; it is started again after `restartAfterMs`. False if it was not up. */
  kill(i: number, restartAfterMs: number): boolean {
    const instance = this.instances[i]!;
    if (instance.state !== 'up' || !instance.child) return false;
    instance.exitExpected = true;
    instance.child.kill('SIGKILL');
    instance.state = 'down';
    this.restartAfter(instance, restartAfterMs);
    return true;
  }

  /**
   * SIGTERM instance i: it drains, hands over what it cannot finish, and must exit 0; it is started again `restartAfterMs`
   * after its exit. Not serving from the signal on. False if it was not up.
   */
  terminate(i: number, restartAfterMs: number): boolean {
    const instance = this.instances[i]!;
    if (instance.state !== 'up' || !instance.child) return false;
    instance.exitExpected = true;
    instance.terminating = true;
    instance.child.kill('SIGTERM');
    instance.state = 'down';
    clearTimeout(instance.restartTimer);
    void instance.gone.then(() => this.restartAfter(instance, restartAfterMs));
    return true;
  }

  /** SIGSTOP instance i. False if it was not up. */
  pause(i: number): boolean {
    const instance = this.instances[i]!;
    if (instance.state !== 'up' || !instance.child) return false;
    instance.child.kill('SIGSTOP');
    instance.state = 'paused';
    return true;
  }

  resume(i: number): void {
    const instance = this.instances[i]!;
    if (instance.state !== 'paused') return;
    instance.child?.kill('SIGCONT');
    instance.state = 'up';
  }

  /** Every instance running and holding its lease: stopped ones resumed, killed ones started now. */
  async healAll(withinMs: number): Promise<void> {
    for (const [i, instance] of this.instances.entries()) {
      if (instance.state === 'paused') this.resume(i);
      if (instance.state === 'down') this.restartAfter(instance, 0);
    }
    await this.untilAllUp(withinMs, true);
  }

  /** Health of instance i, or undefined if it did not answer within `timeoutMs`. */
  async health(i: number, timeoutMs: number): Promise<Health | undefined> {
    return (await getJson<Health>(this.instances[i]!.port, '/healthz', timeoutMs))?.json;
  }

  /** SIGTERM every instance (after SIGCONT), SIGKILL what has not exited within `graceMs`. */
  async stopAll(graceMs: number): Promise<void> {
    this.stopping = true;
    const exits = this.instances.flatMap((instance) => {
      clearTimeout(instance.restartTimer);
      const child = instance.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return [];
      instance.exitExpected = true;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      return [new Promise<void>((resolve) => child.once('exit', () => resolve()))];
    });
    const timer = setTimeout(() => this.killAllNow(), graceMs);
    await Promise.all(exits);
    clearTimeout(timer);
  }

  /** SIGKILL whatever runs, at once: for a harness that is itself going away. */
  killAllNow(): void {
    this.stopping = true;
    for (const instance of this.instances) {
      clearTimeout(instance.restartTimer);
      if (instance.child && instance.child.exitCode === null && instance.child.signalCode === null)
        instance.child.kill('SIGKILL');
    }
  }

  private logFileOf(instance: Instance, generation: number): string {
    return join(this.dir, `instance-${instance.name}.${generation}.log`);
  }

  /** Start the instance again after `ms` — and never before its last process has exited: the new one needs the port. */
  private restartAfter(instance: Instance, ms: number): void {
    clearTimeout(instance.restartTimer);
    instance.restartTimer = setTimeout(() => void instance.gone.then(() => this.start(instance)), ms);
  }

  private start(instance: Instance): void {
    if (this.stopping || instance.state === 'starting' || instance.state === 'up') return;
    instance.generation++;
    instance.logFile = this.logFileOf(instance, instance.generation);
    const out = openSync(instance.logFile, 'a');
    const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, MAIN], {
      env: {
        PATH: process.env['PATH'] ?? '',
        HOST: '127.0.0.1',
        PORT: String(instance.port),
        ...this.env,
        ...this.ownEnv[instance.name],
      },
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    instance.child = child;
    instance.gone = new Promise((resolve) => child.once('exit', () => resolve()));
    instance.state = 'starting';
    instance.exitExpected = false;
    instance.terminating = false;
    this.recorder.event('supervisor', `start ${instance.name} (pid ${child.pid}, generation ${instance.generation})`);
    child.once('exit', (code, signal) => void this.exited(instance, child, code, signal));
    void this.watchStart(instance, child);
  }

  private async watchStart(instance: Instance, child: ChildProcess): Promise<void> {
    while (instance.child === child && instance.state === 'starting') {
      if (await getJson<Health>(instance.port, '/healthz', 1000)) {
        if (instance.child === child && instance.state === 'starting') {
          instance.state = 'up';
          instance.backoffMs = RESTART_BACKOFF_MIN_MS;
          this.recorder.event('supervisor', `${instance.name} serves (pid ${child.pid})`);
        }
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
  }

  private async exited(
    instance: Instance,
    child: ChildProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): Promise<void> {
    const wasStarting = instance.state === 'starting' && instance.child === child;
    // A graceful stop hands its runs over and exits 0: any other end of it is the service's failure, not the nemesis's.
    const gracefulFailed = instance.child === child && instance.terminating && !this.stopping && code !== 0;
    // Postgres away at start: exit 69 is how the service says so (its supervisor restarts it).
    const expected =
      !gracefulFailed &&
      (instance.exitExpected || this.stopping || (wasStarting && code === EXIT_DATABASE_UNAVAILABLE));
    const atMs = this.recorder.now();
    // Enough for a crash as Node prints it: the thrown error's stack, where it was emitted, its fields.
    const tail = expected ? '' : await lastLines(instance.logFile, 48);
    this.recorder.exit({ instance: instance.name, pid: child.pid ?? 0, atMs, code, signal, expected, tail });
    if (instance.child !== child) return;
    if (!instance.exitExpected && !this.stopping) {
      this.recorder.event(
        'harness',
        `${instance.name} (pid ${child.pid}) exited by itself: ${signal ?? `code ${code}`}${expected ? ' (Postgres unreachable at start)' : ''}`,
      );
      instance.state = 'down';
      this.restartAfter(instance, instance.backoffMs);
      instance.backoffMs = Math.min(instance.backoffMs * 2, RESTART_BACKOFF_MAX_MS);
    }
  }

  private async untilAllUp(withinMs: number, holdingLease = false): Promise<void> {
    const deadline = performance.now() + withinMs;
    for (;;) {
      const healths = await Promise.all(
        this.instances.map((instance, i) =>
          instance.state === 'up' ? this.health(i, 1000) : Promise.resolve(undefined),
        ),
      );
      const ready = healths.map(
        (health) =>
          health !== undefined &&
          (!holdingLease || (health.durable?.store === 'up' && health.durable.lease === 'held')),
      );
      if (ready.every(Boolean)) return;
      if (performance.now() > deadline) {
        const late = this.instances
          .filter((_, i) => !ready[i])
          .map((instance) => `${instance.name} (${instance.state})`);
        throw new Error(`instances not serving after ${withinMs} ms: ${late.join(', ')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
  }
}

/** The last `n` lines of a file (its last 8 KB at most). */
async function lastLines(path: string, n: number): Promise<string> {
  try {
    await using file = await open(path, 'r');
    const { size } = await file.stat();
    const length = Math.min(size, 8192);
    const { buffer } = await file.read(Buffer.alloc(length), 0, length, size - length);
    return buffer.toString('utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}
