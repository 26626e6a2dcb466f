/**
 * The reads' own connections (database.ts's ReadShare: DB_READ_CONNECTIONS,
 * DB_READ_WAIT_MS, DB_READS_WAITING_MAX), shared between the clients by the
 * rule of every share (src/fairness/): every client that reads — its list of
 * orders, its feed, its orders by id — has its floor of each, and beyond it
 * only what stays free beside the other active readers' floors.
 *
 * - Places: a read waits for its connection in one of `connections +
 *   waitingMax` places, shared by the rule (HeldShares); a read that finds
 *   none for its client is turned away at once (StoreBusy: 503 overloaded).
 *   One client's many reads filled all 102, and every other client's were
 *   turned away. A read holds its place until it is answered (one place a
 *   connection is for the reads running), a read by key only until its batch
 *   leaves; a newcomer's floor is kept only once a second reader has been
 *   seen, so a client alone has them all.
 * - Turns: a statement gets a connection in its reader's turn (TurnLine):
 *   the reader holding the fewest, rather than the first to ask. In the
 *   pool's one first-come line, one client's slow pages (a list its own
 *   history defeats: 21 ms each) stood before every other client's read,
 *   which waited past DB_READ_WAIT_MS and was turned away. The reads by key
 *   of all clients go together in batches, each statement's batches a reader
 *   of their own, so a batch waits for one statement at most. A statement
 *   that waits DB_READ_WAIT_MS for its turn is turned away unsent; so never
 *   more statements than connections ask the pool for one.
 */
import { StoreBusy } from '../domain/errors.js';
import { HeldShares } from '../fairness/held-shares.js';
import { NEWCOMER_WEIGHT } from '../fairness/fair-share.js';
import { TurnLine } from '../fairness/turn-line.js';
import { Batcher } from './batcher.js';

/** The share of the reads this instance keeps (database.ts's ReadShare). */
export interface ReadLimits {
  readonly connections: number;
  readonly waitMs: number;
  readonly waitingMax: number;
}

/** What the reads' share is doing, for /metrics. */
export interface ReadFigures {
  readonly connections: number;
  /** Reads running or waiting for a connection. */
  readonly reads: number;
  /** Reads turned away (StoreBusy) since start. */
  readonly shed: number;
}

/**
 * A read of one key for `reader` (the client it is for, whose share of the reads it takes): its row, or undefined
 * (none); sent with the other reads of its turn (ReadShares.byKey).
 */
export type KeyedRead<Row> = (key: string, reader?: string) => Promise<Row | undefined>;

/** Who a read is for when its caller names nobody: a reader of its own, with a share as any client's. */
const SOME_READER = '(unnamed)';

/** Reads by key in one statement at most: a few milliseconds of Postgres's time, by the primary key. */
const READ_BATCH_MAX = 250;

/** Gives back a read's place; once, however often called. */
type Place = () => void;

/** A read by key as its batch carries it: its key, and its place, given back as the batch leaves. */
interface KeyedCall {
  readonly key: string;
  readonly place: Place;
}

export class ReadShares {
  private readonly places: HeldShares;
  private readonly turns: TurnLine;
  /** Every reader since start, for the newcomer's floor: as many as there are clients. */
  private readonly seen = new Set<string>();
  private reads = 0;
  private shed = 0;

  constructor(
    private readonly limits: ReadLimits,
    weights: ReadonlyMap<string, number>,
  ) {
    this.places = new HeldShares(limits.connections + limits.waitingMax, weights, undefined, (active) =>
      this.seen.size > active ? NEWCOMER_WEIGHT : 0,
    );
    this.turns = new TurnLine(limits.connections, weights);
  }

  get figures(): ReadFigures {
    return { connections: this.limits.connections, reads: this.reads, shed: this.shed };
  }

  /** One read's `statement` for `reader`: in a place of its client's, sent in its turn. */
  async read<T>(statement: () => Promise<T>, reader = SOME_READER): Promise<T> {
    const place = this.place(reader);
    try {
      return await this.counted(this.turn(reader, statement));
    } finally {
      place();
    }
  }

  /**
   * Reads by key of every reader, sent together by `send` (the keys of a batch; at most one row each, naming its key
   * in `keyColumn`), each batch in the turn of the statement `name`'s batches. Each read waits for its batch in a
   * place of its reader's; one not sent within DB_READ_WAIT_MS is turned away unsent.
   */
  byKey<Row extends object>(
    name: string,
    keyColumn: keyof Row & string,
    send: (keys: readonly string[]) => Promise<Row[]>,
  ): KeyedRead<Row> {
    const batches = `(reads by key: ${name})`;
    const batcher = new Batcher<KeyedCall, Row | undefined>(
      async (calls) => {
        for (const call of calls) call.place();
        const keys = calls.map((call) => call.key);
        const rows = await this.turn(batches, () => send(keys));
        const byKey = new Map(rows.map((row) => [String(row[keyColumn]), row]));
        return keys.map((key) => byKey.get(key));
      },
      {
        maxBatch: READ_BATCH_MAX,
        // Half the connections each (the orders' reads and their money's are two statements): a batch gathers the
        // reads made while the one before is on its way. With a batch per connection, most reads of a 15,000-read
        // burst found a connection free and went alone (12,243 statements); one at a time, 6,614-8,600, and beside
        // two busy loops the service spent 0.79x the CPU a read and answered the burst in 0.68x the time.
        maxInFlight: Math.max(1, Math.floor(this.limits.connections / 2)),
        maxWait: { ms: this.limits.waitMs, error: () => new StoreBusy('no Postgres connection came free in time') },
      },
    );
    return async (key, reader = SOME_READER) => {
      const place = this.place(reader);
      try {
        return await this.counted(batcher.call({ key, place }));
      } finally {
        place();
      }
    };
  }

  /** A place for a read of `reader`'s, given back by the function returned; StoreBusy at once if there is none. */
  private place(reader: string): Place {
    this.seen.add(reader);
    if (!this.places.tryTake(reader)) {
      this.shed++;
      throw new StoreBusy('too many reads at once');
    }
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.places.give(reader);
    };
  }

  /** `statement`, once `reader`'s turn for a read connection comes; StoreBusy, unsent, after DB_READ_WAIT_MS. */
  private turn<T>(reader: string, statement: () => Promise<T>): Promise<T> {
    return this.turns.run(reader, statement, {
      ms: this.limits.waitMs,
      error: () => new StoreBusy('no Postgres connection came free in time'),
    });
  }

  /** A read admitted: counted while it runs, and as shed if it is turned away busy. */
  private async counted<T>(read: Promise<T>): Promise<T> {
    this.reads++;
    try {
      return await read;
    } catch (error) {
      if (error instanceof StoreBusy) this.shed++;
      throw error;
    } finally {
      this.reads--;
    }
  }
}
