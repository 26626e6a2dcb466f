/**
 * INSTANCES=N: N processes sharing the port (node:cluster), each a whole
 * instance — its own event loop, worker threads, Postgres pool and lease —
 * so the HTTP side uses more than one core. The primary runs no service: it
 * forks the instances, prints one start-up line once all of them listen,
 * passes shutdown on, and replaces an instance that dies (its orders are
 * recovered by the others, or by its replacement, once its lease expires).
 *
 * Replacing. A replacement starts at once after an instance that had served
 * a while, later after each one that exits young (restart-backoff.ts: 250 ms
 * doubling to 5 s), and is tried again for as long as it takes: during a
 * Postgres outage every replacement exits 69 within a moment, and the
 * instances still running ride the outage out (503 store_unavailable, then
 * back on their own). They are never stopped because a replacement cannot
 * start; the primary gives up only on a replacement that never will (exit
 * 78: a setting or a schema this code refuses) while no instance serves.
 *
 * Signals. A signal to the primary (`kill`, or `npm start`'s forwarding)
 * is passed to every instance as a message: each drains as a single process
 * does. Ctrl-C in a terminal reaches every process of the group at once;
 * an instance already draining ignores the primary's message, so one Ctrl-C
 * is one drain. A second signal ends everything at once. SIGHUP (read the
 * key files again) is passed on to every instance as the signal itself: by
 * default it would end the primary, and with it every instance.
 *
 * Rate limits. The primary keeps the clients' rate-limit counts for every
 * instance (rate-limiter-flexible's RateLimiterClusterMaster; each instance
 * asks it over IPC: src/http/guards/client-rate-limits.ts), so a client's
 * CLIENT_RATE_LIMIT holds across the instances of this machine.
 *
 * Exit: 0 once every instance has drained; an instance that cannot start
 * at first (a bad setting, Postgres unreachable) ends the others and the
 * primary with its exit code (instance-exit.ts says which exits those are).
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { RateLimiterClusterMaster } from 'rate-limiter-flexible';
import { EXIT_DATABASE_UNAVAILABLE } from '../exit-codes.js';
import { announce } from '../observability/logging.js';
import { instanceExit } from './instance-exit.js';
import { RestartBackoff } from './restart-backoff.js';

/** What the primary tells an instance: drain and exit. */
export const SHUTDOWN_MESSAGE = 'order-threads:shutdown';

export function runPrimary(instances: number, stopWithinMs: number, log: Logger): void {
  const listening = new Set<number>();
  /** performance.now() at each instance's fork, by worker id. */
  const forkedAt = new Map<number, number>();
  const backoff = new RestartBackoff();
  /** Replacements waiting for their turn. */
  const replacements = new Set<NodeJS.Timeout>();
  let started = false;
  let stopping = false;
  let exitCode = 0;

  const fork = (): void => {
    forkedAt.set(cluster.fork().id, performance.now());
  };
  const everyone = (): Worker[] =>
    Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
  const killAll = (): void => {
    for (const worker of everyone()) worker.process.kill('SIGKILL');
  };
  const stop = (code: number): void => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    for (const timer of replacements) clearTimeout(timer);
    replacements.clear();
    for (const worker of everyone()) if (worker.isConnected()) worker.send(SHUTDOWN_MESSAGE);
    if (everyone().length === 0) process.exit(exitCode);
    setTimeout(() => {
      log.fatal('instances did not stop in time; killing them');
      killAll();
      process.exit(1);
    }, stopWithinMs + 2000).unref();
  };

  cluster.on('listening', (worker, address) => {
    listening.add(worker.id);
    if (started) {
      log.info(
        { instance_pid: worker.process.pid, listening: listening.size, instances },
        'a replacement instance listens',
      );
      return;
    }
    if (listening.size < instances) return;
    started = true;
    const host = address.address ?? '127.0.0.1';
    announce(
      { instances, pids: everyone().map((w) => w.process.pid) },
      `listening on http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    );
  });

  cluster.on('exit', (worker, code, signal) => {
    const listened = listening.delete(worker.id);
    const livedMs = performance.now() - (forkedAt.get(worker.id) ?? 0);
    forkedAt.delete(worker.id);
    const verdict = instanceExit({ stopping, started, listened, code, listening: listening.size });
    if (verdict === 'stopping') {
      if (code !== 0) exitCode = exitCode || code || 1;
      if (everyone().length === 0) process.exit(exitCode);
      return;
    }
    if (verdict === 'could_not_start') {
      log.fatal({ instance_pid: worker.process.pid, code, signal }, 'an instance could not start; stopping');
      killAll();
      process.exit(code || 1);
    }
    if (verdict === 'refuses_configuration') {
      log.fatal(
        { instance_pid: worker.process.pid, code },
        'an instance refuses this configuration and none serves; stopping',
      );
      stop(code ?? 1);
      return;
    }
    const waitMs = backoff.next({ listened, livedMs });
    const fields = {
      instance_pid: worker.process.pid,
      code,
      signal,
      listening: listening.size,
      instances,
      replacement_in_ms: waitMs,
    };
    if (code === EXIT_DATABASE_UNAVAILABLE)
      log.warn(fields, 'an instance could not reach Postgres; starting another after a pause');
    else log.error(fields, 'an instance died; starting another (its orders are recovered once its lease expires)');
    const timer = setTimeout(() => {
      replacements.delete(timer);
      fork();
    }, waitMs);
    replacements.add(timer);
  });

  onSignals({ log, instances, stop, killAll, everyone });

  // Before the first fork: an instance asks for its limiters as it starts.
  new RateLimiterClusterMaster();
  for (let i = 0; i < instances; i++) fork();
}

interface Signalled {
  readonly log: Logger;
  readonly instances: number;
  /** Drain every instance, then exit `code`. */
  readonly stop: (code: number) => void;
  readonly killAll: () => void;
  readonly everyone: () => Worker[];
}

/**
 * SIGTERM and SIGINT drain every instance (a second one ends them at once); SIGHUP is passed on, each instance
 * reading its key files again.
 */
function onSignals({ log, instances, stop, killAll, everyone }: Signalled): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: ending every instance now');
      killAll();
      process.exit(1);
    }
    log.info({ signal, instances }, 'shutting down every instance');
    stop(0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => {
    const running = everyone();
    for (const worker of running) worker.process.kill('SIGHUP');
    log.info({ instances: running.length }, 'SIGHUP passed on to every instance: key files read again');
  });
}
