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
 *   marked down. A timeout (a connection slow to open, a statement slow to
 *   answer) says nothing either way on a busy machine, so it is put to a
 *   probe on a connection of its own: down only if that fails too. So is an
 *   idle connection that ended: alone, it says the connection went.
 * - Reads are bounded (ReadShare: DB_READ_CONNECTIONS, DB_READ_WAIT_MS,
 *   DB_READS_WAITING_MAX). A burst of reads has connections of its own, waits
 *   for one at most waitMs and is then turned away (StoreBusy: 503
 *   overloaded), and beyond waitingMax waiting is turned away at once. So no
 *   number of reads takes a connection the orders, leases and recovery need.
 *   Each client that reads has its share of them (read-shares.ts): its
 *   places, and its turns for a connection.
 * - Reads by key are sent together (readByKey): every read of one statement
 *   made while its batch before is on its way goes in the next, one
 *   statement for all (`= ANY($1)`). Beside busy cores each statement's
 *   write wakes a Postgres backend and the writer is preempted for it (176 µs
 *   a statement, against 60 on an idle machine); a batch pays that once. The
 *   share counts reads, not statements: a read waits for its batch at most
 *   waitMs, and waitingMax reads at most wait beyond the batches the free
 *   connections take next.
 * - Every round trip is counted, for the metrics and the measurements (round
 *   trips per order).
 * - Commits are asynchronous by default (`synchronous_commit=off` for the
 *   session): a Postgres crash may lose the last few, never an instance's
 *   death. What a client is told is committed synchronously (order_finish
 *   turns it on for its transaction), and WAL is flushed in order, so every
 *   write an answer depends on is on disk before the answer leaves.
 * - Every connection is opened at start and kept (`openConnections`), as a
 *   fixed-size pool: opening one takes several round trips, each waiting for
 *   a busy event loop, and one opened under a flood took 0.4–3.7 s and timed
 *   out (a statement answered 503, a lane sent again) where a statement on an
 *   open one waited for a turn. What a pool lost is opened again when asked.
 * - Every connection is heard from its opening to its end: an idle one that
 *   dies emits 'error' on its pool, and a checked-out one on itself — also
 *   between the pool's handing it out and the statement's start, when its
 *   end came in one chunk with its opening or with its last answer. Unheard,
 *   such an 'error' crashes the process (seen in chaos, on a fast shutdown).
 */
import type { Logger } from 'pino';
import pg from 'pg';
import { StoreBusy } from '../domain/errors.js';
import { DatabaseUnavailable, isSqlState, isUnavailable } from './failures.js';
import { migrate, type Migration } from './migrations.js';
import type { OrderKey } from '../domain/order.js';
import type { StatementObserver } from '../domain/trace.js';
import type { CallDone } from './batcher.js';
import { ReadShares, type KeyedRead, type ReadFigures } from './read-shares.js';

/** The reads' share of Postgres: a pool of their own, so that they never take a connection the orders need. */
export interface ReadShare {
  /** Connections of the reads' own pool, kept open (DB_READ_CONNECTIONS). */
  readonly connections: number;
  /** How long a read waits for one of them before it is turned away (DB_READ_WAIT_MS). */
  readonly waitMs: number;
  /** Reads waiting for one at most; a read beyond is turned away at once (DB_READS_WAITING_MAX). */
  readonly waitingMax: number;
}

/** ~50 ms of reads at the rate two connections serve them one by one, waiting at most 500 ms. */
export const DEFAULT_READ_SHARE: ReadShare = { connections: 2, waitMs: 500, waitingMax: 100 };

export interface DatabaseOptions {
  readonly url: string;
  /** Connections at most; each instance's share of max_connections. */
  readonly poolSize: number;
  /** A statement taking longer than this fails (and the database counts as down if a probe fails too). */
  readonly statementTimeoutMs: number;
  readonly reads?: ReadShare;
  /** Each client's weight in its share of the reads (CLIENT_WEIGHTS); every client 1 without. */
  readonly readerWeights?: ReadonlyMap<string, number>;
  readonly log: Logger;
}

export type { KeyedRead, ReadFigures } from './read-shares.js';

/** How often a database marked down is tried again. */
const PROBE_MS = 250;
/**
 * The least time the probe that tells a timeout from an outage is given to connect and answer, however short the
 * statements' timeout: a new connection is the slowest thing to ask of a busy machine (beside busy loops and three
 * other test files, over 1.5 s), and a probe that times out marks Postgres down for every order. An outage that
 * refuses connections is told at once; only one that drops them waits this long, its statements answered busy
 * meanwhile.
 */
const OUTAGE_PROBE_MIN_MS = 5000;
/** pg-pool's error when every connection stayed taken for connectionTimeoutMillis (it has no code). */
const CHECKOUT_TIMEOUT = 'timeout exceeded when trying to connect';
/**
 * A timeout — a connection not opened in time (pg-pool: "Connection terminated due to connection timeout"), a
 * statement not answered in time (pg: "Query read timeout") — which a starved event loop causes as well as a lost
 * Postgres.
 */
const TIMED_OUT = /timeout/i;
/** pg-pool's error when a new connection did not open within connectionTimeoutMillis (it has no code). */
const CONNECT_TIMEOUT = 'Connection terminated due to connection timeout';
/** Tries at bringing the schema up to date while connections time out but Postgres answers a probe. */
const MIGRATE_ATTEMPTS = 3;
/** Tries at opening each connection at start. */
const OPEN_ATTEMPTS = 5;
/** Connections ended as they were handed out, let go before a statement gives up (each is new, or was idle). */
const CHECKOUT_ATTEMPTS = 3;

/** A connection not opened in time, new or from the pool: nothing was sent on it. */
function isConnectTimeout(error: unknown): boolean {
  return error instanceof Error && (error.message === CONNECT_TIMEOUT || error.message === CHECKOUT_TIMEOUT);
}

/**
 * Whether Postgres itself answered that the statement failed (an error of severity ERROR: its transaction rolled
 * back), rather than the statement going unanswered — timed out, its connection lost, or its backend ended (FATAL),
 * which may come after a commit.
 */
function failedInPostgres(error: unknown): boolean {
  const { code, severity } = (error ?? {}) as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && isSqlState(code) && severity === 'ERROR';
}

export interface Statement {
  /** Prepared once per connection under this name. */
  readonly name: string;
  readonly text: string;
}

export class Database {
  private readonly pool: pg.Pool;
  private readonly readPool: pg.Pool;
  /**
   * One connection for the instance's lease, kept open: in the orders' pool its renewal queued behind every client's
   * writes (a client's failing webhooks at its rate limit held it 0.3–1.7 s), and a lease renewed late is an instance
   * that gives up every order it runs. No client's load reaches this one.
   */
  private readonly leasePool: pg.Pool;
  private readonly readShare: ReadShare;
  /** Each client's share of the read pool: its places, and its turns for a connection. */
  private readonly readShares: ReadShares;
  /** A probe under way that tells a timeout from an outage; shared by every statement that timed out meanwhile. */
  private confirming: Promise<boolean> | undefined;
  private up = true;
  private probe: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly listeners: Array<(up: boolean) => void> = [];
  /** Why a connection ended, heard whether or not it is checked out; a connection that ended is never used again. */
  private readonly ended = new WeakMap<pg.ClientBase, Error>();
  /** Round trips since start. */
  roundTrips = 0;

  constructor(private readonly options: DatabaseOptions) {
    this.pool = this.newPool(options.poolSize, Math.min(options.statementTimeoutMs, 2000));
    this.readShare = options.reads ?? DEFAULT_READ_SHARE;
    const { connections, waitMs } = this.readShare;
    this.readPool = this.newPool(connections, waitMs);
    this.readShares = new ReadShares(this.readShare, options.readerWeights ?? new Map());
    this.leasePool = this.newPool(1, Math.min(options.statementTimeoutMs, 2000));
  }

  /** The statements' pool: connections at most. */
  get poolSize(): number {
    return this.options.poolSize;
  }

  get readFigures(): ReadFigures {
    return this.readShares.figures;
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

  /** The rows of one statement of the instance's lease, on the lease's own connection. Fails at once while down. */
  leaseQuery<Row extends object>(statement: Statement, values: readonly unknown[] = []): Promise<Row[]> {
    return this.run(this.leasePool, statement, values);
  }

  /**
   * The rows of one read for `reader` (the client it is for), on the reads' own connections, in its share of them.
   * Fails at once while the database is down, and with StoreBusy while its client's share of the places is taken or
   * its turn for a connection does not come in time.
   */
  read<Row extends object>(statement: Statement, values: readonly unknown[] = [], reader?: string): Promise<Row[]> {
    return this.readShares.read(() => this.run(this.readPool, statement, values), reader);
  }

  /**
   * Reads by key, on the reads' own connections, sent together: `statement` takes every key of a batch as a text
   * array ($1) and answers at most one row per key, naming it in `keyColumn` (ReadShares.byKey).
   */
  readByKey<Row extends object>(statement: Statement, keyColumn: keyof Row & string): KeyedRead<Row> {
    return this.readShares.byKey(statement.name, keyColumn, (keys) => this.run<Row>(this.readPool, statement, [keys]));
  }

  /**
   * Bring the schema up to date (at start). A connection not opened in time is asked for again while Postgres answers
   * a probe: a server's first connection is its slowest, and on a busy machine it outlasted the timeout (a test's own
   * server, beside three other files, took over 1.5 s) — slow, not down.
   */
  async migrate(migrations: readonly Migration[]): Promise<number[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await migrate(this.pool, migrations);
      } catch (error) {
        if (attempt < MIGRATE_ATTEMPTS && isConnectTimeout(error) && !(await this.confirmDown(error))) continue;
        if (isUnavailable(error))
          throw new DatabaseUnavailable(`Postgres is unreachable: ${(error as Error).message}`, { cause: error });
        throw error;
      }
    }
  }

  /**
   * Every connection of the pools used (`reads`, `lease`: false where none are), opened together at start, before the
   * load that would open them. On a busy machine one may not open within its pool's wait (the reads' is short): it is
   * asked for again (OPEN_ATTEMPTS), and past that its pool opens it when asked.
   */
  async openConnections({ reads = true, lease = true } = {}): Promise<void> {
    const pools = [this.pool, ...(reads ? [this.readPool] : []), ...(lease ? [this.leasePool] : [])];
    const opening = pools.flatMap((pool) => Array.from({ length: pool.options.max ?? 0 }, () => this.opened(pool)));
    for (const opened of await Promise.allSettled(opening)) if (opened.status === 'fulfilled') opened.value.release();
  }

  /** A new connection of `pool`, asked for again while opening one times out. */
  private async opened(pool: pg.Pool, attempt = 1): Promise<pg.PoolClient> {
    return this.checkout(pool).catch((error: unknown) => {
      if (attempt >= OPEN_ATTEMPTS || !isConnectTimeout(error)) throw error;
      return this.opened(pool, attempt + 1);
    });
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
    await Promise.all([this.pool.end(), this.readPool.end(), this.leasePool.end()]);
  }

  /** `max` connections, kept once open; `waitMs`: how long a statement waits for one, free or new. */
  private newPool(max: number, waitMs: number): pg.Pool {
    const pool = new pg.Pool({
      connectionString: this.options.url,
      max,
      min: max,
      connectionTimeoutMillis: waitMs,
      query_timeout: this.options.statementTimeoutMs,
      keepAlive: true,
      application_name: 'order-threads',
      options: '-c synchronous_commit=off',
    });
    // An idle connection ends with Postgres, but also alone (an idle timeout, a proxy that drops it; kept open, each
    // connection is idle for long): down only if a probe fails too.
    pool.on('error', (error) => {
      this.options.log.warn({ err: error }, 'a Postgres connection was lost while idle');
      void this.confirmDown(error);
    });
    // The pool stops listening as it hands a connection out, before the caller can start to; this listener stays.
    pool.on('connect', (client) => client.on('error', (error: Error) => void this.ended.set(client, error)));
    return pool;
  }

  private async run<Row extends object>(
    pool: pg.Pool,
    statement: Statement | string,
    values: readonly unknown[],
  ): Promise<Row[]> {
    if (!this.up) throw new DatabaseUnavailable('Postgres is unreachable');
    this.roundTrips++;
    // Once a connection is had, the statement is on its way: a failure from then on may leave it committed.
    let sent = false;
    try {
      const config =
        typeof statement === 'string'
          ? { text: statement, values: [...values] }
          : { name: statement.name, text: statement.text, values: [...values] };
      const client = await this.checkout(pool);
      sent = true;
      try {
        const { rows } = await client.query<Row>(config);
        // Its end may have come with this answer, in one chunk: then it is let go, not given to another.
        client.release(this.ended.get(client));
        return rows;
      } catch (error) {
        // As pool.query does: a connection whose statement failed is not given to another.
        client.release(error instanceof Error ? error : true);
        throw error;
      }
    } catch (error) {
      // Every connection was busy for the whole checkout timeout: this instance asks too much at once; Postgres itself
      // may be fine.
      if (error instanceof Error && error.message === CHECKOUT_TIMEOUT)
        throw new StoreBusy('no Postgres connection came free in time', { cause: error });
      if (!isUnavailable(error)) throw error;
      // A busy machine is slow, not down: only a probe that fails as well says Postgres is gone.
      const options = { cause: error, unanswered: sent && !failedInPostgres(error) };
      if (error instanceof Error && TIMED_OUT.test(error.message) && !(await this.confirmDown(error)))
        throw new StoreBusy(`Postgres answered a probe, but not this in time: ${error.message}`, options);
      this.markDown(error);
      throw new DatabaseUnavailable(`Postgres is unreachable: ${(error as Error).message}`, options);
    }
  }

  /**
   * A connection to send a statement on. One that ended as it was handed out (its end came in the same chunk as its
   * opening, or while it sat idle and unread) is let go and another asked for: the statement was never sent on it.
   */
  private async checkout(pool: pg.Pool): Promise<pg.PoolClient> {
    for (let attempt = 1; ; attempt++) {
      const client = await pool.connect();
      const ended = this.ended.get(client);
      if (ended === undefined) return client;
      client.release(ended);
      if (attempt === CHECKOUT_ATTEMPTS) throw ended;
    }
  }

  /**
   * Whether Postgres fails a `SELECT 1` on a connection of its own (neither pool's queue in front of it), given as
   * long as a statement and at least OUTAGE_PROBE_MIN_MS: true marks it down. One probe at a time; every timeout, and
   * every idle connection ended, meanwhile hears its answer.
   */
  private confirmDown(error: unknown): Promise<boolean> {
    if (!this.up || this.closed) return Promise.resolve(!this.up);
    this.confirming ??= (async () => {
      const timeoutMs = Math.max(this.options.statementTimeoutMs, OUTAGE_PROBE_MIN_MS);
      const client = new pg.Client({
        connectionString: this.options.url,
        connectionTimeoutMillis: timeoutMs,
        query_timeout: timeoutMs,
        application_name: 'order-threads probe',
      });
      // An error after the probe's answer (the connection dropped as it closes) is not this probe's to tell.
      client.on('error', () => {});
      try {
        await client.connect();
        await client.query('SELECT 1');
        this.options.log.warn(
          { err: error },
          'Postgres answers a probe: not down (a statement timed out, or one connection ended)',
        );
        return false;
      } catch {
        this.markDown(error);
        return true;
      } finally {
        await client.end().catch(() => {});
        this.confirming = undefined;
      }
    })();
    return this.confirming;
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

/**
 * Tells `statements` of each call of a batched statement named `name` as its order's: what a batcher's `observe`
 * takes. Undefined without an observer, so calls are not even timed.
 */
export function observedAs<In extends { readonly id: string }>(
  name: string,
  statements: StatementObserver | undefined,
): ((input: In, done: CallDone) => void) | undefined {
  return statements && ((input, done) => statements({ name, order: unstoredKey(input.id), ...done }));
}

/** A bigint column as a number (run numbers stay far below 2^53). */
export const asNumber = (value: string | number): number => (typeof value === 'number' ? value : Number(value));
