/**
 * INSTANCES=N: N processes sharing the port (node:cluster), each a whole
 * instance — its own event loop, worker threads, Postgres pool and lease —
 * so the HTTP side uses more than one core. The primary runs no service: it
 * forks the instances, prints one start-up line once all of them listen,
 * passes shutdown on, and replaces an instance that dies (its orders are
 * recovered by the others, or by its replacement, once its lease expires).
 *
 * Signals. A signal to the primary (`kill`, or `npm start`'s forwarding)
 * is passed to every instance as a message: each drains as a single process
 * does. Ctrl-C in a terminal reaches every process of the group at once;
 * an instance already draining ignores the primary's message, so one Ctrl-C
 * is one drain. A second signal ends everything at once.
 *
 * Exit: 0 once every instance has drained; an instance that cannot start
 * (a bad setting, Postgres unreachable) ends the others and the primary
 * with its exit code.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { announce } from '../observability/logging.js';

/** What the primary tells an instance: drain and exit. */
export const SHUTDOWN_MESSAGE = 'order-threads:shutdown';

/** An instance that keeps dying is not replaced forever: at most this many times a minute. */
const MAX_RESTARTS_PER_MINUTE = 5;

export function runPrimary(instances: number, shutdownTimeoutMs: number, log: Logger): void {
  const listening = new Set<number>();
  const restarts: number[] = [];
  let started = false;
  let stopping = false;
  let exitCode = 0;

  const fork = (): Worker => cluster.fork();
  const everyone = (): Worker[] => Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
  const killAll = (): void => {
    for (const worker of everyone()) worker.process.kill('SIGKILL');
  };
  const stop = (code: number): void => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    for (const worker of everyone()) if (worker.isConnected()) worker.send(SHUTDOWN_MESSAGE);
    if (everyone().length === 0) process.exit(exitCode);
    setTimeout(() => {
      log.fatal('instances did not stop in time; killing them');
      killAll();
      process.exit(1);
    }, shutdownTimeoutMs + 2000).unref();
  };

  cluster.on('listening', (worker, address) => {
    listening.add(worker.id);
    if (started || listening.size < instances) return;
    started = true;
    const host = address.address ?? '127.0.0.1';
    announce({ instances, pids: everyone().map((w) => w.process.pid) }, `listening on http://${host.includes(':') ? `[${host}]` : host}:${address.port}`);
  });

  cluster.on('exit', (worker, code, signal) => {
    listening.delete(worker.id);
    if (stopping) {
      if (code !== 0) exitCode = exitCode || code || 1;
      if (everyone().length === 0) process.exit(exitCode);
      return;
    }
    if (!started) {
      // One could not start: nor can the others, for the same reason.
      log.fatal({ pid: worker.process.pid, code, signal }, 'an instance could not start; stopping');
      killAll();
      process.exit(code || 1);
    }
    const now = performance.now();
    restarts.push(now);
    while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
    if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
      log.fatal({ restarts: restarts.length }, 'instances keep dying; stopping');
      stop(1);
      return;
    }
    log.error({ pid: worker.process.pid, code, signal }, 'an instance died; starting another (its orders are recovered once its lease expires)');
    fork();
  });

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

  for (let i = 0; i < instances; i++) fork();
}
