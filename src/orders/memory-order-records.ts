/**
 * The order records in this process's memory. Bounded by memory, not by
 * count: what fits is a matter of bytes.
 *
 * An order under way keeps its record as an object (a few hundred bytes, and
 * at most MAX_INFLIGHT of them); once done, its record is a few dozen bytes
 * in typed arrays (src/orders/done-records.ts) holding what a replay and
 * `GET /orders/{id}` need: its outcome with every step of its answer, its
 * runs, its tier, its own deadline, 64 bits of its fingerprint, and the provider's books of it,
 * folded in (src/ledger/memory-ledger.ts) — so that the default 64 MB keeps
 * ten minutes of a steady 1,000 orders/s (docs/decisions/an-order-as-a-record.md).
 *
 * A record is never forgotten before its time to live — `ttlMs` after its
 * order is done — while the service runs: a retry within it must be
 * replayed, never charged again. So when the bytes are all taken, a new
 * order is refused (`full`: shed, before anything starts) rather than an
 * older record evicted. Each record is charged what it takes, with what is
 * kept alongside it for as long as it is kept (the books of an order under
 * way, its money at risk: `alongside`). A running record is charged what it
 * may grow to once done, so finishing never passes the bound.
 *
 * Done records expire in the order they were done (one time to live for
 * all): the oldest is always the first to go, found without walking
 * anything. The bytes are also kept per client, so that one client's share
 * of them can be bounded (the bulkheads: `isFullFor`).
 */
import type { Tier } from '../domain/tier.js';
import type { FoldedBooks, FoldedBooksShelf } from '../ledger/memory-ledger.js';
import {
  MAX_CLIENT_NAME_LENGTH,
  MAX_ORDER_ID_LENGTH,
  orderKey,
  partsOfKey,
  type Order,
  type OrderKey,
} from '../domain/order.js';
import { DoneRecords, MAX_BYTES_BESIDES_ID, NO_POSITION } from './done-records.js';
import { fingerprint64Of, fingerprintText, sameFingerprint64, type Fingerprint64 } from './fingerprints.js';
import type { DoneBody } from './outcome-codec.js';
import type {
  Begun,
  CancelMark,
  CancelRequest,
  CancelRequester,
  Finished,
  OrderRecord,
  OrderRecords,
  RecordedOutcome,
} from './order-records.js';
import type { OrderListPage, OrderListQuery } from './order-list.js';
import { listMemoryOrders, type RunningListing } from './memory-order-list.js';

interface Running {
  readonly record: OrderRecord;
  readonly client: string;
  readonly bytes: number;
  /** Its begin number (GET /orders lists the newest first) and when it began. */
  readonly seq: number;
  readonly beganAt: number;
  /** A cancel was marked, by whom and when: its finish records no success. */
  canceled?: CancelRequest;
}

/**
 * A running record's own bytes besides its key: the record, its fingerprint, its Map entry — and never less than its
 * record may take once done, whatever its outcome (two bytes a code unit of its key covers its id).
 */
const RUNNING_RECORD_BYTES = Math.max(400, MAX_BYTES_BESIDES_ID);

/** A new order's first run, with the longest key an order may have: what the next begin must find room for. */
const LARGEST_NEW_RECORD: OrderRecord = {
  key: orderKey('\u0000'.repeat(MAX_CLIENT_NAME_LENGTH), '\u0000'.repeat(MAX_ORDER_ID_LENGTH)),
  fingerprint: '',
  runs: 1,
  state: 'running',
  outcome: undefined,
};

/** What a record takes, kept here, besides what is kept alongside it. */
const runningBytes = (key: OrderKey): number => RUNNING_RECORD_BYTES + 2 * key.length;

/** The provider's books of the orders under way: taken from it as an order is done, given back if it runs again. */
export interface BooksOfOrdersUnderWay {
  takeBooks(order: OrderKey): FoldedBooks | undefined;
  giveBooks(order: OrderKey, books: FoldedBooks): void;
}

export interface MemoryOrderRecordsOptions {
  /** Told of every record that goes, so what is kept alongside it can go too. */
  readonly onForget?: (key: OrderKey) => void;
  /**
   * Bytes kept elsewhere for as long as the record is kept (the provider's
   * books of an order under way…), counted in the bound. Of a running record: the
   * most it may come to once done.
   */
  readonly alongside?: (record: OrderRecord) => number;
  /**
   * Told of each outcome as it is recorded, in the same turn (nothing awaited between): the outbox's events are
   * written with the change they report.
   */
  readonly onRecorded?: (key: OrderKey, run: number, outcome: RecordedOutcome) => void;
  /** Whose books a done record folds in; without one, a done record keeps no books. */
  readonly ledger?: BooksOfOrdersUnderWay;
  readonly now?: () => number;
}

interface RunWaiter {
  readonly run: number;
  readonly resolve: (outcome: RecordedOutcome) => void;
}

export class MemoryOrderRecords implements OrderRecords, FoldedBooksShelf {
  private readonly running = new Map<OrderKey, Running>();
  private readonly done = new DoneRecords();
  private bytes = 0;
  /** The next run's begin number. */
  private nextSeq = 1;
  private readonly bytesByClient = new Map<string, number>();
  /** What a new order's record is charged at most (its first run, with the longest id): made once. */
  private newRecordBytes: number | undefined;
  /** Callers of awaitRun, by order id (the service itself joins runs in memory and never waits here). */
  private readonly waiters = new Map<OrderKey, RunWaiter[]>();

  private readonly onForget: (key: OrderKey) => void;
  private readonly alongside: (record: OrderRecord) => number;
  private readonly onRecorded: (key: OrderKey, run: number, outcome: RecordedOutcome) => void;
  private readonly ledger: BooksOfOrdersUnderWay | undefined;
  private readonly now: () => number;
  /** Whether done records are kept at all: with a time to live or a bound of 0, each goes as its order ends. */
  private readonly keepsDone: boolean;

  constructor(
    private readonly ttlMs: number,
    private readonly maxBytes: number,
    {
      onForget = () => {},
      alongside = () => 0,
      onRecorded = () => {},
      ledger,
      now = Date.now,
    }: MemoryOrderRecordsOptions = {},
  ) {
    this.onForget = onForget;
    this.alongside = alongside;
    this.onRecorded = onRecorded;
    this.ledger = ledger;
    this.now = now;
    this.keepsDone = ttlMs > 0 && maxBytes > 0;
  }

  async get(key: OrderKey): Promise<OrderRecord | undefined> {
    return this.recordOf(key);
  }

  /** The record, read at once (what the store reads in the same turn as a change of the books). */
  recordOf(key: OrderKey): OrderRecord | undefined {
    const running = this.running.get(key);
    if (running) return running.canceled ? { ...running.record, canceled: running.canceled } : running.record;
    const position = this.findDone(key);
    return position === NO_POSITION ? undefined : this.doneRecordAt(position, key);
  }

  /** Decided with nothing awaited: of calls at once, one starts the run. */
  async begin(key: OrderKey, fingerprint: string, tier?: Tier, asked?: Order): Promise<Begun> {
    const running = this.running.get(key);
    if (running) {
      if (running.record.fingerprint !== fingerprint) return { kind: 'reused' };
      return { kind: 'running', run: running.record.runs };
    }
    const position = this.findDone(key);
    let runs = 0;
    let tierBefore: Tier | undefined;
    if (position !== NO_POSITION) {
      if (!sameFingerprint64(this.done.fingerprintOf(position), fingerprint64Of(fingerprint)))
        return { kind: 'reused' };
      const body = this.done.bodyOf(position);
      if (body.outcome.replay) return { kind: 'replay', result: body.outcome.replay };
      runs = body.runs;
      tierBefore = body.tier;
    }
    const runTier = tier ?? tierBefore;
    const record: OrderRecord = {
      key,
      fingerprint,
      runs: runs + 1,
      state: 'running',
      outcome: undefined,
      ...(runTier ? { tier: runTier } : {}),
      ...(asked?.deadlineMs === undefined ? {} : { ownDeadlineMs: asked.deadlineMs }),
    };
    const bytes = this.sizeOf(record);
    const freed = position === NO_POSITION ? 0 : this.done.chargeOf(position);
    if (!this.hasRoom(bytes - freed)) return { kind: 'full' };
    const client = partsOfKey(key).client;
    if (position !== NO_POSITION) {
      // Still its record, running again: nothing of it is forgotten, and its books are the provider's again.
      const books = this.done.booksOf(position);
      this.dropDone(position);
      if (books) this.ledger?.giveBooks(key, books);
    }
    this.running.set(key, { record, client, bytes, seq: this.nextSeq++, beganAt: this.now() });
    this.addBytes(client, bytes);
    return { kind: 'started', run: record.runs };
  }

  async list(query: OrderListQuery): Promise<OrderListPage> {
    return listMemoryOrders(
      { running: this.runningListings(), nextSeq: this.nextSeq, done: this.done, ttlMs: this.ttlMs },
      query,
    );
  }

  private *runningListings(): Generator<RunningListing> {
    for (const { record, client, seq, beganAt } of this.running.values())
      yield { key: record.key, client, runs: record.runs, tier: record.tier, seq, beganAt };
  }

  /**
   * Nothing to remember: in memory, the process that ran a run is the only one that can raise its alarm, and it does
   * before anything else can happen.
   */
  async alarmRaised(_order: OrderKey, _run: number): Promise<void> {}

  isFull(): boolean {
    return this.keepsDone && !this.hasRoom(this.largestNewRecordBytes());
  }

  bytesOf(client: string): number {
    return this.bytesByClient.get(client) ?? 0;
  }

  isFullFor(client: string, limitBytes: number): boolean {
    if (!this.keepsDone) return false;
    const fits = (): boolean => this.bytesOf(client) + this.largestNewRecordBytes() <= limitBytes;
    if (fits()) return false;
    this.dropExpired();
    return !fits();
  }

  private largestNewRecordBytes(): number {
    return (this.newRecordBytes ??= this.sizeOf(LARGEST_NEW_RECORD));
  }

  /**
   * Whether `bytes` more fit, once the expired are gone. Only while done records are kept: otherwise nothing outlives
   * its order, and MAX_INFLIGHT bounds orders under way.
   */
  private hasRoom(bytes: number): boolean {
    if (!this.keepsDone) return true;
    if (this.bytes + bytes <= this.maxBytes) return true;
    this.dropExpired();
    return this.bytes + bytes <= this.maxBytes;
  }

  async requestCancel(key: OrderKey, by: CancelRequester): Promise<CancelMark | undefined> {
    const running = this.running.get(key);
    if (running) {
      running.canceled ??= { ...by, at: this.now() };
      return { kind: 'marked', run: running.record.runs };
    }
    const outcome = this.recordOf(key)?.outcome;
    return outcome ? { kind: 'ended', outcome: outcome.kind } : undefined;
  }

  async finish(key: OrderKey, run: number, outcome: RecordedOutcome): Promise<Finished> {
    const kept = this.running.get(key);
    // Only the latest run, while under way, writes the answer (in one process nobody takes a run over, but say so).
    if (!kept || kept.record.runs !== run) return outcome.kind;
    if (kept.canceled && outcome.kind === 'ok') return 'cancel_requested';
    this.wake(key, run, outcome);
    this.onRecorded(key, run, outcome);
    this.running.delete(key);
    this.addBytes(kept.client, -kept.bytes);
    if (!this.keepsDone) {
      this.onForget(key);
      return outcome.kind;
    }
    const { runs, tier, ownDeadlineMs } = kept.record;
    const books = this.ledger?.takeBooks(key);
    const expiresAt = this.now() + this.ttlMs;
    // Who canceled it is kept once it is canceled: a run that failed on its own first was not.
    const canceled = outcome.kind === 'canceled' ? kept.canceled : undefined;
    this.addDone(key, fingerprint64Of(kept.record.fingerprint), expiresAt, {
      runs,
      tier,
      ownDeadlineMs,
      outcome,
      books,
      canceled,
    });
    this.dropExpired();
    return outcome.kind;
  }

  /** A done order's books, folded into its record (the provider asks). */
  booksOf(order: OrderKey): FoldedBooks | undefined {
    if (this.running.has(order)) return undefined;
    const position = this.findDone(order);
    return position === NO_POSITION ? undefined : this.done.booksOf(position);
  }

  /** A done order's books changed after it was done (a request that arrived late): its record is written again. */
  rewrite(order: OrderKey, books: FoldedBooks): void {
    const position = this.findDone(order);
    if (position === NO_POSITION) return;
    const body = this.done.bodyOf(position);
    const fingerprint = this.done.fingerprintOf(position);
    const expiresAt = this.done.expiresAtOf(position);
    this.dropDone(position);
    this.addDone(order, fingerprint, expiresAt, { ...body, books });
  }

  awaitRun(key: OrderKey, run: number, signal: AbortSignal): Promise<RecordedOutcome> {
    const kept = this.recordOf(key);
    if (!kept || kept.runs !== run || kept.state !== 'running') {
      // Over already: its outcome if it is still the latest run, else nothing is known of it.
      return Promise.resolve(
        kept?.runs === run && kept.outcome ? kept.outcome : { kind: 'interrupted', replay: undefined },
      );
    }
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const waiter: RunWaiter = {
        run,
        resolve: (outcome) => {
          signal.removeEventListener('abort', leave);
          resolve(outcome);
        },
      };
      const leave = (): void => {
        const list = this.waiters.get(key)?.filter((other) => other !== waiter) ?? [];
        if (list.length > 0) this.waiters.set(key, list);
        else this.waiters.delete(key);
        reject(signal.reason);
      };
      signal.addEventListener('abort', leave, { once: true });
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), waiter]);
    });
  }

  private wake(key: OrderKey, run: number, outcome: RecordedOutcome): void {
    const list = this.waiters.get(key);
    if (!list) return;
    const others = list.filter((waiter) => waiter.run !== run);
    if (others.length > 0) this.waiters.set(key, others);
    else this.waiters.delete(key);
    for (const waiter of list) if (waiter.run === run) waiter.resolve(outcome);
  }

  size(): number {
    return this.running.size + this.done.count;
  }

  /** Bytes the records are charged in their bound. */
  estimatedBytes(): number {
    return this.bytes;
  }

  /** The done record of `key`, unless it has expired (then it is forgotten now). */
  private findDone(key: OrderKey): number {
    const position = this.done.find(key);
    if (position === NO_POSITION || this.done.expiresAtOf(position) > this.now()) return position;
    this.forgetDone(position);
    return NO_POSITION;
  }

  private doneRecordAt(position: number, key: OrderKey): OrderRecord {
    const { runs, tier, ownDeadlineMs, outcome, canceled } = this.done.bodyOf(position);
    const fingerprint = fingerprintText(this.done.fingerprintOf(position));
    return {
      key,
      fingerprint,
      runs,
      state: 'done',
      outcome,
      ...(tier ? { tier } : {}),
      ...(ownDeadlineMs === undefined ? {} : { ownDeadlineMs }),
      ...(canceled ? { canceled } : {}),
    };
  }

  private addDone(key: OrderKey, fingerprint: Fingerprint64, expiresAt: number, body: DoneBody): void {
    const { runs, outcome } = body;
    const alongside = this.alongside({ key, fingerprint: fingerprintText(fingerprint), runs, state: 'done', outcome });
    const position = this.done.add({ key, fingerprint, expiresAt, alongside, ...body });
    this.addBytes(partsOfKey(key).client, this.done.chargeOf(position));
  }

  /** A done record leaves the records (gone for good, or running again). */
  private dropDone(position: number): void {
    this.addBytes(this.done.clientOf(position), -this.done.chargeOf(position));
    this.done.forget(position);
  }

  private forgetDone(position: number): void {
    const key = this.done.keyOf(position);
    this.dropDone(position);
    this.onForget(key);
  }

  private addBytes(client: string, bytes: number): void {
    this.bytes += bytes;
    const now = (this.bytesByClient.get(client) ?? 0) + bytes;
    if (now > 0) this.bytesByClient.set(client, now);
    else this.bytesByClient.delete(client);
  }

  /** A running record's charge: what it takes, and what is kept alongside it. */
  private sizeOf(record: OrderRecord): number {
    return runningBytes(record.key) + this.alongside(record);
  }

  private dropExpired(): void {
    const now = this.now();
    for (let oldest = this.done.oldest(); oldest !== NO_POSITION; oldest = this.done.oldest()) {
      if (this.done.expiresAtOf(oldest) > now) return;
      this.forgetDone(oldest);
    }
  }
}
