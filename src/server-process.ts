/**
 * The process: read the configuration, start the service, print where it
 * listens, and on SIGTERM or SIGINT drain and let the process end by itself.
 * With INSTANCES=N (> 1) this process is the primary of N instances sharing
 * the port (src/cluster/primary.ts), and each instance runs this file too.
 */
import cluster from 'node:cluster';
import { ConfigError, loadConfig, type Config } from './config.js';
import { EXIT_BAD_CONFIG } from './exit-codes.js';
import { SHUTDOWN_MESSAGE, runPrimary } from './cluster/primary.js';
import { startService } from './composition/service.js';
import { announce, createLogger } from './observability/logging.js';
import { sizeThreadYoungGenerations } from './runtime.js';
import { startFailure } from './start-failure.js';

/** Said on the start line in open mode: who can reach the service is who may do anything. */
const OPEN_MODE_NOTE = ' (open mode: no API keys; every caller is the one anonymous client and the admin)';

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`invalid configuration: ${error.message}\n`);
  process.exit(EXIT_BAD_CONFIG);
}

// Before any thread is made: each takes its young generation's size from the process's flags as it starts.
sizeThreadYoungGenerations();
const log = createLogger(config.logLevel, { buffered: config.logBuffer });
if (cluster.isPrimary && (config.instances ?? 1) > 1) {
  runPrimary(config.instances ?? 1, config.drainDelayMs + config.shutdownTimeoutMs, log);
} else {
  await serve(config);
}

async function serve(config: Config): Promise<void> {
  const service = await startService({ config, logger: log }).catch((error: unknown) => {
    const failure = startFailure(error, config.durable ? redacted(config.durable.databaseUrl) : '');
    if (failure) {
      process.stderr.write(`${failure.line}\n`);
      process.exit(failure.exitCode);
    }
    log.fatal({ err: error }, 'could not start');
    process.exit(1);
  });
  const about = {
    threads: config.threads,
    couriers: config.couriers,
    access: config.access.mode,
    ...(config.durable ? { durable: true } : {}),
    ...(config.events.allowPrivateTargets ? { webhook_private_targets: 'allowed' } : {}),
    ...(service.warmedUp ? { warm_up: { ...service.warmedUp, ms: Math.round(service.warmedUp.ms) } } : {}),
  };
  if (config.events.allowPrivateTargets)
    log.warn(
      'WEBHOOK_ALLOW_PRIVATE_TARGETS=on: webhooks may be plain http and reach loopback, private, link-local and metadata addresses; only for tests and private networks',
    );
  if (config.faultInjection)
    log.warn(
      'FAULT_INJECTION=on: orders sent with the admin key may crash, hang or exhaust threads on purpose; never on in production',
    );
  // In a cluster the primary prints the one "listening on" line, once every instance listens.
  if (cluster.isWorker) log.info(about, `instance listening at ${service.url.origin}`);
  else announce(about, `listening on ${service.url.origin}${config.access.mode === 'open' ? OPEN_MODE_NOTE : ''}`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals | 'primary'): void => {
    if (stopping) {
      // The primary passes on the Ctrl-C every process of the group got already: one drain.
      if (signal === 'primary') return;
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, drain_delay_ms: config.drainDelayMs, timeout_ms: config.shutdownTimeoutMs }, 'shutting down');
    // The process should end by itself once everything is closed; this is
    // only the backstop for something that refuses to close.
    setTimeout(
      () => {
        log.fatal('shutdown did not finish in time; exiting');
        process.exit(1);
      },
      config.drainDelayMs + config.shutdownTimeoutMs + 1000,
    ).unref();
    service.shutdown().then(
      () => {
        log.info('stopped');
        // An instance of a cluster: its IPC channel would keep it alive.
        if (cluster.isWorker) process.disconnect?.();
      },
      (error: unknown) => {
        log.fatal({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // The key files read again (where a file watch hears nothing): keys added or removed without a restart.
  process.on('SIGHUP', () => service.reloadKeys());
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (cluster.isWorker) {
    process.on('message', (message) => {
      if (message === SHUTDOWN_MESSAGE) stop('primary');
    });
    // The primary is gone (killed): nobody would ever tell this instance to stop.
    process.on('disconnect', () => stop('primary'));
  }
}

/** A database URL fit for a log line: without its password. */
function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.href;
  } catch {
    return '(DATABASE_URL)';
  }
}
