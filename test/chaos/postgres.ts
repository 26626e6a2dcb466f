/**
 * The Postgres a chaos run stands on, and what the nemesis may do to it:
 * stop it (a fast shutdown: every session cut) and start it again on the
 * same data and port, pause it (SIGSTOP the postmaster and its children:
 * connections stay open, nothing answers), and cut the instances' LISTEN
 * connections. Also the harness's own few connections, to read the courier
 * pool and the orders behind the service's back.
 *
 * Either a throwaway server the harness starts and removes, or a server
 * given by URL (`npm run db`'s), on which the run gets a fresh database. A
 * server the harness did not start cannot be restarted by it; it can be
 * paused only if it runs on this machine and the harness may signal it.
 */
import pg from 'pg';
import { pidListeningOn } from '../../load/lib/proc.js';
import { processTree, serverProcesses, startRestartablePostgres } from '../support/postgres.js';

export interface ChaosPostgres {
  /** The database the instances use. */
  readonly url: string;
  readonly about: string;
  readonly canRestart: boolean;
  readonly canPause: boolean;
  /** Fast shutdown; resolves once the server has exited. */
  halt(): Promise<void>;
  /** Start it again, same data, same port. */
  resume(): Promise<void>;
  /** SIGSTOP the server's processes; how many. */
  pause(): Promise<number>;
  unpause(): Promise<void>;
  /** pg_terminate_backend on every LISTEN connection of the instances; how many. */
  terminateListeners(): Promise<number>;
  /** A statement on the run's database, from the harness's own pool (fails fast while the server is away). */
  query<Row extends object>(text: string, params?: unknown[]): Promise<Row[]>;
  /** Stop what the harness started; a given server's database is dropped unless kept. What became of it, in words. */
  close(keepDatabase: boolean): Promise<string>;
}

/** Set by the service on its LISTEN connection (src/postgres/database.ts). */
const LISTENER_APPLICATION = 'order-threads listener';

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.href;
}

async function admin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function harnessPool(url: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: 3,
    connectionTimeoutMillis: 1000,
    query_timeout: 2000,
    application_name: 'order-threads chaos',
  });
  // A connection cut by the nemesis must not crash the harness.
  pool.on('error', () => {});
  return pool;
}

function signal(pids: readonly number[], name: NodeJS.Signals): number {
  let signalled = 0;
  for (const pid of pids) {
    try {
      process.kill(pid, name);
      signalled++;
    } catch {
      // Gone meanwhile.
    }
  }
  return signalled;
}

/** What every kind of server shares: the pool, the LISTEN cut, pausing a process tree. */
abstract class RunDatabase implements ChaosPostgres {
  private readonly pool: pg.Pool;
  private paused: number[] = [];
  abstract readonly about: string;
  abstract readonly canRestart: boolean;
  abstract readonly canPause: boolean;

  constructor(readonly url: string) {
    this.pool = harnessPool(url);
  }

  abstract halt(): Promise<void>;
  abstract resume(): Promise<void>;
  protected abstract processes(): Promise<number[]>;
  protected abstract release(keepDatabase: boolean): Promise<string>;

  async query<Row extends object>(text: string, params: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query<Row>(text, params)).rows;
  }

  async pause(): Promise<number> {
    this.paused = await this.processes();
    return signal(this.paused, 'SIGSTOP');
  }

  async unpause(): Promise<void> {
    signal([...new Set([...this.paused, ...(await this.processes())])], 'SIGCONT');
    this.paused = [];
  }

  async terminateListeners(): Promise<number> {
    const [row] = await this.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()) cut',
      [LISTENER_APPLICATION],
    );
    return row?.n ?? 0;
  }

  async close(keepDatabase: boolean): Promise<string> {
    await this.pool.end().catch(() => {});
    return this.release(keepDatabase);
  }
}

class ThrowawayDatabase extends RunDatabase {
  readonly canRestart = true;
  readonly canPause = true;

  constructor(
    private readonly server: Awaited<ReturnType<typeof startRestartablePostgres>>,
    url: string,
  ) {
    super(url);
  }

  get about(): string {
    return `a throwaway Postgres on port ${new URL(this.url).port} (data in ${this.server.dataDir})`;
  }

  halt(): Promise<void> {
    return this.server.halt();
  }

  resume(): Promise<void> {
    return this.server.resume();
  }

  protected processes(): Promise<number[]> {
    return serverProcesses(this.server.dataDir);
  }

  protected async release(): Promise<string> {
    await this.server.stop();
    return 'the throwaway Postgres was stopped and removed';
  }
}

class GivenDatabase extends RunDatabase {
  readonly canRestart = false;
  readonly canPause: boolean;

  constructor(
    private readonly serverUrl: string,
    private readonly database: string,
    private readonly postmaster: number | undefined,
  ) {
    super(withDatabase(serverUrl, database));
    this.canPause = postmaster !== undefined;
  }

  get about(): string {
    const where = new URL(this.url);
    return `the Postgres at ${where.host}, database ${this.database}${this.canPause ? '' : ' (not paused: not a process of this machine the harness may signal)'}; never stopped (the harness did not start it)`;
  }

  halt(): Promise<void> {
    return Promise.reject(new Error('a Postgres the harness did not start is not stopped'));
  }

  resume(): Promise<void> {
    return Promise.resolve();
  }

  protected async processes(): Promise<number[]> {
    return this.postmaster === undefined ? [] : processTree(this.postmaster);
  }

  protected async release(keepDatabase: boolean): Promise<string> {
    if (keepDatabase) return `database ${this.database} kept for a look: ${this.url.replace(/:[^:@/]*@/, ':***@')}`;
    await admin(this.serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`));
    return `database ${this.database} dropped`;
  }
}

/** The postmaster serving `url`, if it is a process on this machine the harness may signal. */
function localPostmaster(url: string): number | undefined {
  const { hostname, port } = new URL(url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(hostname)) return undefined;
  const pid = pidListeningOn(Number(port || 5432));
  if (pid === null) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** The run's Postgres: on `serverUrl` (a fresh database named after the run), or a throwaway server. */
export async function openPostgres(serverUrl: string | undefined, runName: string): Promise<ChaosPostgres> {
  if (serverUrl === undefined) {
    const server = await startRestartablePostgres();
    await admin(server.url, (client) => client.query('CREATE DATABASE chaos'));
    return new ThrowawayDatabase(server, withDatabase(server.url, 'chaos'));
  }
  const database = `chaos_${runName.replace(/\W/g, '_').toLowerCase()}`;
  await admin(serverUrl, (client) => client.query(`CREATE DATABASE ${database}`));
  return new GivenDatabase(serverUrl, database, localPostmaster(serverUrl));
}
