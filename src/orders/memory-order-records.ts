/**
 * The order records in this process's memory. Bounded by memory, not by
 * count: an outcome's size depends on its steps and its order id, and what
 * fits is a matter of bytes (a count of 10 million did not fit the heap).
 *
 * A record is never forgotten before its time to live — `ttlMs` after its
 * order is done — while the service runs: a retry within it must be
 * replayed, never charged again. So when the bytes are all taken, a new
 * order is refused (`full`: shed, before anything starts) rather than an
 * older record evicted. Each record's size is estimated as it is written,
 * with what is kept alongside it for as long as it is kept (the provider's
 * books of the order, its money at risk: `alongside`). A running record is
 * charged what it may grow to once done, so finishing never passes the bound.
 *
 * Done records expire in the order they were done (one time to live for
 * all), which a queue of their keys keeps: the records' Map is never walked
 * from its front. A Map's iterator starts at its table's first slot and
 * steps over every entry deleted since the table was last rebuilt — each
 * record expired, and each record moved on finishing — so once records
 * expired, finding the next to expire that way cost 6–21 µs an order, not
 * 2.6 (docs/measurements/2026-11-25-ids-and-prototypes.md). Orders under way
 * are bounded by MAX_INFLIGHT.
 *
 * The bytes are also kept per client, so that one client's share of them can
 * be bounded (the bulkheads: `isFullFor`).
 */
import type { Tier } from '../domain/tier.js';
import { frontWorthCompacting } from '../queue-compaction.js';
import {
  ACTION_NAMES,
  MAX_CLIENT_NAME_LENGTH,
  MAX_ORDER_ID_LENGTH,
  orderKey,
  partsOfKey,
  type OrderKey,
} from '../domain/order.js';
import type { Begun, OrderRecord, OrderRecords, OutcomeKind, RecordedOutcome } from './order-records.js';

interface Kept {
  readonly record: OrderRecord;
  readonly client: string;
  readonly bytes: number;
  /** When a done record expires; Infinity while its order runs. */
  readonly expiresAt: number;
}

/**
 * Heap bytes of a record, a little over what was measured with --expose-gc
 * over 50,000 records with 18-character ids: 891 bytes with three steps, 986
 * with a compensation too (a Map entry, the record, its fingerprint, its
 * outcome). The id is one string shared by the key and the record; two bytes
 * a character covers ids that are not Latin-1.
 */
const RECORD_BYTES = 620;
const STEP_BYTES = 100;

/** A new order's first run, with the longest key an order may have: what the next begin must find room for. */
const LARGEST_NEW_RECORD: OrderRecord = {
  key: orderKey('\u0000'.repeat(MAX_CLIENT_NAME_LENGTH), '\u0000'.repeat(MAX_ORDER_ID_LENGTH)),
  fingerprint: '',
  runs: 1,
  state: 'running',
  outcome: undefined,
};

/** Steps and compensations an outcome can list, at most. */
const MAX_OUTCOME_STEPS = ACTION_NAMES.length;

/** The record's own bytes; a running one's as it may be once done (its outcome listing every step). */
function ownSizeOf(record: OrderRecord): number {
  const replay = record.outcome?.replay;
  const steps =
    record.state === 'running' ? MAX_OUTCOME_STEPS : replay ? replay.steps.length + replay.compensations.length : 0;
  return RECORD_BYTES + steps * STEP_BYTES + 2 * record.key.length;
}

export interface MemoryOrderRecordsOptions {
  /** Told of every record that goes, so what is kept alongside it can go too. */
  readonly onForget?: (key: OrderKey) => void;
  /**
   * Bytes kept elsewhere for as long as the record is kept (the provider's
   * books of the order…), counted in the bound. Of a running record: the
   * most it may come to once done.
   */
  readonly alongside?: (record: OrderRecord) => number;
  /**
   * Told of each outcome as it is recorded, in the same turn (nothing awaited between): the outbox's events are
   * written with the change they report.
   */
  readonly onRecorded?: (key: OrderKey, run: number, outcome: RecordedOutcome) => void;
  readonly now?: () => number;
}

interface RunWaiter {
  readonly run: number;
  readonly resolve: (outcome: RecordedOutcome) => void;
}

export class MemoryOrderRecords implements OrderRecords {
  private readonly records = new Map<OrderKey, Kept>();
  /**
   * Done records' keys and expiry times, soonest first; the first `expiringHead` are gone (dropped in bulk). An entry
   * whose record has since changed or gone is stale: its time no longer matches the record's, and it is passed over.
   */
  private expiringKeys: OrderKey[] = [];
  private expiringAt: number[] = [];
  private expiringHead = 0;
  private bytes = 0;
  private readonly bytesByClient = new Map<string, number>();
  /** What a new order's record is charged at most (its first run, with the longest id): made once. */
  private newRecordBytes: number | undefined;
  /** Callers of awaitRun, by order id (the service itself joins runs in memory and never waits here). */
  private readonly waiters = new Map<OrderKey, RunWaiter[]>();

  private readonly onForget: (key: OrderKey) => void;
  private readonly alongside: (record: OrderRecord) => number;
  private readonly onRecorded: (key: OrderKey, run: number, outcome: RecordedOutcome) => void;
  private readonly now: () => number;
  /** Whether done records are kept at all: with a time to live or a bound of 0, each goes as its order ends. */
  private readonly keepsDone: boolean;

  constructor(
    private readonly ttlMs: number,
    private readonly maxBytes: number,
    { onForget = () => {}, alongside = () => 0, onRecorded = () => {}, now = Date.now }: MemoryOrderRecordsOptions = {},
  ) {
    this.onForget = onForget;
    this.alongside = alongside;
    this.onRecorded = onRecorded;
    this.now = now;
    this.keepsDone = ttlMs > 0 && maxBytes > 0;
  }

  async get(key: OrderKey): Promise<OrderRecord | undefined> {
    return this.lookup(key);
  }

  /** The record, read at once (what the store reads in the same turn as a change of the books). */
  recordOf(key: OrderKey): OrderRecord | undefined {
    return this.lookup(key);
  }

  /** Decided with nothing awaited: of calls at once, one starts the run. */
  async begin(key: OrderKey, fingerprint: string, tier?: Tier): Promise<Begun> {
    const kept = this.lookup(key);
    const record = kept ?? { key, fingerprint, runs: 0, state: 'done' as const, outcome: undefined };
    if (record.fingerprint !== fingerprint) return { kind: 'reused' };
    if (record.state === 'running') return { kind: 'running', run: record.runs };
    if (record.outcome?.replay) return { kind: 'replay', result: record.outcome.replay };
    const run = record.runs + 1;
    const running: OrderRecord = {
      ...record,
      runs: run,
      state: 'running',
      outcome: undefined,
      ...(tier ? { tier } : {}),
    };
    if (!this.hasRoomFor(running)) return { kind: 'full' };
    this.keep(running, Infinity);
    return { kind: 'started', run };
  }

  /**
   * Nothing to remember: in memory, the process that ran a run is the only one that can raise its alarm, and it does
   * before anything else can happen.
   */
  async alarmRaised(_order: OrderKey, _run: number): Promise<void> {}

  isFull(): boolean {
    return !this.hasRoomFor(LARGEST_NEW_RECORD);
  }

  bytesOf(client: string): number {
    return this.bytesByClient.get(client) ?? 0;
  }

  isFullFor(client: string, limitBytes: number): boolean {
    if (!this.keepsDone) return false;
    this.newRecordBytes ??= this.sizeOf(LARGEST_NEW_RECORD);
    const fits = (): boolean => this.bytesOf(client) + this.newRecordBytes! <= limitBytes;
    if (fits()) return false;
    this.dropExpired();
    return !fits();
  }

  /**
   * Whether `record` fits in place of the one kept under its id, once the
   * expired are gone. Only while done records are kept: otherwise nothing
   * outlives its order, and MAX_INFLIGHT bounds orders under way.
   */
  private hasRoomFor(record: OrderRecord): boolean {
    if (!this.keepsDone) return true;
    const fits = (): boolean =>
      this.bytes - (this.records.get(record.key)?.bytes ?? 0) + this.sizeOf(record) <= this.maxBytes;
    if (fits()) return true;
    this.dropExpired();
    return fits();
  }

  async finish(key: OrderKey, run: number, outcome: RecordedOutcome): Promise<OutcomeKind> {
    const kept = this.records.get(key);
    // Only the latest run, while under way, writes the answer (in one process nobody takes a run over, but say so).
    if (!kept || kept.record.runs !== run || kept.record.state !== 'running') return outcome.kind;
    this.wake(key, run, outcome);
    this.onRecorded(key, run, outcome);
    if (!this.keepsDone) {
      this.forget(key, kept);
      return outcome.kind;
    }
    // Never more than it was charged while it ran: the bound holds without evicting anything.
    this.keep({ ...kept.record, state: 'done', outcome }, this.now() + this.ttlMs);
    this.dropExpired();
    return outcome.kind;
  }

  awaitRun(key: OrderKey, run: number, signal: AbortSignal): Promise<RecordedOutcome> {
    const kept = this.records.get(key)?.record;
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
    return this.records.size;
  }

  private lookup(key: OrderKey): OrderRecord | undefined {
    const kept = this.records.get(key);
    if (!kept) return undefined;
    if (kept.expiresAt <= this.now()) {
      this.forget(key, kept);
      return undefined;
    }
    return kept.record;
  }

  /** Bytes the records are estimated to take. */
  estimatedBytes(): number {
    return this.bytes;
  }

  private keep(record: OrderRecord, expiresAt: number): void {
    const previous = this.records.get(record.key);
    if (previous) {
      this.addBytes(previous.client, -previous.bytes);
      this.records.delete(record.key);
    }
    const bytes = this.sizeOf(record);
    const client = previous?.client ?? partsOfKey(record.key).client;
    this.addBytes(client, bytes);
    this.records.set(record.key, { record, client, bytes, expiresAt });
    if (expiresAt !== Infinity) {
      this.expiringKeys.push(record.key);
      this.expiringAt.push(expiresAt);
    }
  }

  private addBytes(client: string, bytes: number): void {
    this.bytes += bytes;
    const now = (this.bytesByClient.get(client) ?? 0) + bytes;
    if (now > 0) this.bytesByClient.set(client, now);
    else this.bytesByClient.delete(client);
  }

  private sizeOf(record: OrderRecord): number {
    return ownSizeOf(record) + this.alongside(record);
  }

  private forget(key: OrderKey, kept: Kept): void {
    this.records.delete(key);
    this.addBytes(kept.client, -kept.bytes);
    this.onForget(key);
  }

  private dropExpired(): void {
    const now = this.now();
    while (this.expiringHead < this.expiringKeys.length && this.expiringAt[this.expiringHead]! <= now) {
      const key = this.expiringKeys[this.expiringHead]!;
      const kept = this.records.get(key);
      if (kept !== undefined && kept.expiresAt === this.expiringAt[this.expiringHead]) this.forget(key, kept);
      this.expiringHead++;
    }
    if (frontWorthCompacting(this.expiringHead, this.expiringKeys.length)) {
      this.expiringKeys = this.expiringKeys.slice(this.expiringHead);
      this.expiringAt = this.expiringAt.slice(this.expiringHead);
      this.expiringHead = 0;
    }
  }
}
