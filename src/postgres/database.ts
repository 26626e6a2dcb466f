/**
 * The durable mode's way to Postgres: a connection pool for the orders'
 * statements, a small one of its own for reads (GET /orders/{id}), and what
 * it knows of the database's health.
 *
 * - Up or down. A statement that fails for want of the database (refused,
 *   reset, timed out — not an SQL error, which is a bug and said so) marks
 *   it down; while down, statements fail at once without trying, so orders
 *   are answered 503 in microseconds rather than after a timeout, and a probe
 *   (`SELECT 1` every PROBE_MS) marks it up again. Listeners hear both.
 * - Busy is not down. A pool whose connections are all taken for longer than
 *   the checkout timeout says that this instance asks too much at once, not
 *   that Postgres is gone: the statement fails (StoreBusy), nothing is
 *   marked down.
 * - Reads are bounded. A burst of reads has READ_CONNECTIONS of its own and
 *   at most READS_WAITING_MAX waiting for them; a read beyond is turned away
 *   at once (StoreBusy: 503 overloaded). So no number of reads takes a
 *   connection the orders need.
 * - Every round trip is counted, for the metrics and the measurements (round
 *   trips per order).
 * - Commits are asynchronous by default (`synchronous_commit=off` for the
 *   session): a Postgres crash may lose the last few, never an instance's
 *   death. What a client is told is committed synchronously (order_finish
 *   turns it on for its transaction), and WAL is flushed in order, so every
 *   write an answer depends on is on disk before the answer leaves.
 * - A pool must have an 'error' listener: an idle connection that dies emits
 *   one, and unheard, it crashes the process.
 */
import type { Logger } from 'pino';
import pg from 'pg';
import { StoreBusy } from '../domain/errors.js';
import { migrate, type Migration } from './migrations.js';
import type { OrderKey } from '../domain/order.js';

/** A failure of the database itself — not of a statement — for callers to tell apart. */
export class DatabaseUnavailable extends Error {
  override readonly name = 'DatabaseUnavailable';
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
  }
}

export interface DatabaseOptions {
  readonly url: string;
  /** Connections at most; each instance's share of max_connections. */
  readonly poolSize: number;
  /** A statement taking longer than this fails (and the database counts as down). */
  readonly statementTimeoutMs: number;
  readonly log: Logger;
}

/** How often a database marked down is tried again. */
const PROBE_MS = 250;
/** Connections of the reads' own pool. */
const READ_CONNECTIONS = 2;
/** Reads waiting for one of those, at most: ~50 ms of reads at the rate two connections serve them. */
const READS_WAITING_MAX = 100;
/** pg-pool's error when every connection stayed taken for connectionTimeoutMillis (it has no code). */
const CHECKOUT_TIMEOUT = 'timeout exceeded when trying to connect';

/** An SQLSTATE (its class is a digit or F, H, P, X first: never an errno name such as EPIPE). */
const SQLSTATE = /^[0-9FHPX][0-9A-Z]{4}$/;
/**
 * SQLSTATE classes that mean the server or the connection failed, not the statement: 08 connection, 53 resources, 57
 * operator intervention (shutdown), 58 system.
 */
const UNAVAILABLE_STATES = /^(08|53|57|58)/;

/**
 * Whether a request failed for want of the database — it is down, or no connection was free — rather than through a
 * fault of its own.
 */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof DatabaseUnavailable || error instanceof StoreBusy) return true;
  const code = (error as { code?: unknown } | null)?.code;
  // A network error has an errno code (ECONNREFUSED…); pg's own have none, and say so in words.
  if (typeof code === 'string') return SQLSTATE.test(code) ? UNAVAILABLE_STATES.test(code) : true;
  return error instanceof Error && /timeout|terminated|Connection|ECONN|socket/i.test(error.message);
}

export interface Statement {
  /** Prepared once per connection under this name. */
  readonly name: string;
  readonly text: string;
}

export class Database {
  private readonly pool: pg.Pool;
  private readonly readPool: pg.Pool;
  /** Reads running or waiting for a connection of the read pool. */
  private reads = 0;
  private up = true;
  private probe: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly listeners: Array<(up: boolean) => void> = [];
  /** Round trips since start. */
  roundTrips = 0;

  constructor(private readonly options: DatabaseOptions) {
    this.pool = this.newPool(options.poolSize);
    // Kept open once made: a burst of reads must not wait for handshakes on a busy event loop.
    this.readPool = this.newPool(READ_CONNECTIONS, READ_CONNECTIONS);
  }

  get isUp(): boolean {
    return this.up;
  }

  /** Told whenever the database goes down or comes back. */
  onChange(listener: (up: boolean) => void): void {
    this.listeners.push(listener);
  }

  /** The rows of one statement. Fails at once while the database is down. */
  query<Row extends object>(statement: Statement | string, values: readonly unknown[] = []): Promise<Row[]> {
    return this.run(this.pool, statement, values);
  }

  /**
   * The rows of one read, on the reads' own connections. Fails at once while
   * the database is down, and with StoreBusy while too many reads wait.
   */
  async read<Row extends object>(statement: Statement, values: readonly unknown[] = []): Promise<Row[]> {
    if (this.reads >= READ_CONNECTIONS + READS_WAITING_MAX) throw new StoreBusy('too many reads at once');
    this.reads++;
    try {
      return await this.run(this.readPool, statement, values);
    } finally {
      this.reads--;
    }
  }

  /** Bring the schema up to date (at start). */
  async migrate(migrations: readonly Migration[]): Promise<number[]> {
    try {
      return await migrate(this.pool, migrations);
    } catch (error) {
      if (isUnavailable(error))
        throw new DatabaseUnavailable(`Postgres is unreachable: ${(error as Error).message}`, { cause: error });
      throw error;
    }
  }

  /** A connection of its own (for LISTEN), outside the pool. */
  client(): pg.Client {
    return new pg.Client({
      connectionString: this.options.url,
      keepAlive: true,
      application_name: 'order-threads listener',
      connectionTimeoutMillis: 2000,
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.probe);
    await Promise.all([this.pool.end(), this.readPool.end()]);
  }

  private newPool(max: number, min = 0): pg.Pool {
    const pool = new pg.Pool({
      connectionString: this.options.url,
      max,
      min,
      connectionTimeoutMillis: Math.min(this.options.statementTimeoutMs, 2000),
      query_timeout: this.options.statementTimeoutMs,
      keepAlive: true,
      application_name: 'order-threads',
      options: '-c synchronous_commit=off',
    });
    pool.on('error', (error) => {
      this.options.log.warn({ err: error }, 'a Postgres connection was lost while idle');
      this.markDown(error);
    });
    return pool;
  }

  private async run<Row extends object>(
    pool: pg.Pool,
    statement: Statement | string,
    values: readonly unknown[],
  ): Promise<Row[]> {
    if (!this.up) throw new DatabaseUnavailable('Postgres is unreachable');
    this.roundTrips++;
    try {
      const config =
        typeof statement === 'string'
          ? { text: statement, values: [...values] }
          : { name: statement.name, text: statement.text, values: [...values] };
      return (await pool.query<Row>(config)).rows;
    } catch (error) {
      // Every connection was busy for the whole checkout timeout: this instance asks too much at once; Postgres itself
      // may be fine.
      if (error instanceof Error && error.message === CHECKOUT_TIMEOUT)
        throw new StoreBusy('no Postgres connection came free in time', { cause: error });
      if (!isUnavailable(error)) throw error;
      this.markDown(error);
      throw new DatabaseUnavailable(`Postgres is unreachable: ${(error as Error).message}`, { cause: error });
    }
  }

  private markDown(error: unknown): void {
    if (!this.up || this.closed) return;
    this.up = false;
    this.options.log.error({ err: error }, 'Postgres unreachable: orders are answered 503 until it is back');
    for (const listener of this.listeners) listener(false);
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    this.probe = setTimeout(() => {
      if (this.closed) return;
      this.pool.query('SELECT 1').then(
        () => {
          this.up = true;
          this.options.log.info('Postgres is reachable again');
          for (const listener of this.listeners) listener(true);
        },
        () => this.scheduleProbe(),
      );
    }, PROBE_MS);
    this.probe.unref();
  }
}

/**
 * An order's key (its client and its id, `client:order_id`) as stored in
 * the `order_id` columns: Postgres text cannot hold NUL, so NUL becomes `\0`
 * and a backslash `\\` — one-to-one, and the same as given for every key
 * without either.
 */
export function storedKey(key: OrderKey): string {
  return /[\\\0]/.test(key) ? key.replace(/[\\\0]/g, (c) => (c === '\\' ? '\\\\' : '\\0')) : key;
}

/** The order's key of a stored one: the inverse of storedKey. */
export function unstoredKey(stored: string): OrderKey {
  return (
    stored.includes('\\') ? stored.replace(/\\(\\|0)/g, (_, c: string) => (c === '\\' ? '\\' : '\0')) : stored
  ) as OrderKey;
}

/** A bigint column as a number (run numbers stay far below 2^53). */
export const asNumber = (value: string | number): number => (typeof value === 'number' ? value : Number(value));
