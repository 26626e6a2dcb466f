/**
 * The process: read the configuration, start the service, print where it
 * listens, and on SIGTERM or SIGINT drain and let the process end by itself.
 */
import { ConfigError, loadConfig, type Config } from './config.js';
import { startService } from './composition-root.js';
import { announce, createLogger } from './observability/logging.js';

/** Exit code for a configuration the service refuses to start with (sysexits' EX_CONFIG). */
const EXIT_BAD_CONFIG = 78;

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`invalid configuration: ${error.message}\n`);
  process.exit(EXIT_BAD_CONFIG);
}

const log = createLogger(config.logLevel, { buffered: config.logBuffer });
const service = await startService({ config, logger: log }).catch((error: unknown) => {
  log.fatal({ err: error }, 'could not start');
  process.exit(1);
});
announce({ threads: config.threads, couriers: config.couriers }, `listening on ${service.url.origin}`);

let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) {
    log.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  stopping = true;
  log.info({ signal, timeout_ms: config.shutdownTimeoutMs }, 'shutting down');
  // The process should end by itself once everything is closed; this is
  // only the backstop for something that refuses to close.
  setTimeout(() => {
    log.fatal('shutdown did not finish in time; exiting');
    process.exit(1);
  }, config.shutdownTimeoutMs + 1000).unref();
  service.shutdown().then(
    () => log.info('stopped'),
    (error: unknown) => {
      log.fatal({ err: error }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
