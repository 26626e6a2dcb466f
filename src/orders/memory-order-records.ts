/**
 * The order records in this process's memory. Bounded by memory, not by
 * count: an outcome's size depends on its steps and its order id, and what
 * fits is a matter of bytes (a count of 10 million did not fit the heap).
 * Each record's size is estimated as it is written; once the estimate of the
 * whole passes `maxBytes`, the records of orders that are done go, oldest
 * first. A Map keeps insertion order and a record is moved to the end
 * whenever it changes, so the oldest — and the first to expire — are at its
 * front. A record expires `ttlMs` after its order is done. Orders under way
 * are never evicted: MAX_INFLIGHT bounds them.
 */
import type { Begun, OrderRecord, OrderRecords, OutcomeKind, RecordedOutcome } from './order-records.js';

interface Kept {
  readonly record: OrderRecord;
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

function sizeOf(record: OrderRecord): number {
  const replay = record.outcome?.replay;
  const steps = replay ? replay.steps.length + replay.compensations.length : 0;
  return RECORD_BYTES + steps * STEP_BYTES + 2 * record.orderId.length;
}

interface RunWaiter {
  readonly run: number;
  readonly resolve: (outcome: RecordedOutcome) => void;
}

export class MemoryOrderRecords implements OrderRecords {
  private readonly records = new Map<string, Kept>();
  private bytes = 0;
  /** Callers of awaitRun, by order id (the service itself joins runs in memory and never waits here). */
  private readonly waiters = new Map<string, RunWaiter[]>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxBytes: number,
    /** Told of every record that goes, so what is kept alongside it can go too. */
    private readonly onForget: (orderId: string) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  async get(orderId: string): Promise<OrderRecord | undefined> {
    return this.lookup(orderId);
  }

  /** Decided with nothing awaited: of calls at once, one starts the run. */
  async begin(orderId: string, fingerprint: string): Promise<Begun> {
    const kept = this.lookup(orderId);
    const record = kept ?? { orderId, fingerprint, runs: 0, state: 'done' as const, outcome: undefined };
    if (record.fingerprint !== fingerprint) return { kind: 'reused' };
    if (record.state === 'running') return { kind: 'running', run: record.runs };
    if (record.outcome?.replay) return { kind: 'replay', result: record.outcome.replay };
    const run = record.runs + 1;
    this.keep({ ...record, runs: run, state: 'running', outcome: undefined }, Infinity);
    return { kind: 'started', run };
  }

  async finish(orderId: string, run: number, outcome: RecordedOutcome): Promise<OutcomeKind> {
    const kept = this.records.get(orderId);
    // Only the latest run, while under way, writes the answer (in one process nobody takes a run over, but say so).
    if (!kept || kept.record.runs !== run || kept.record.state !== 'running') return outcome.kind;
    this.wake(orderId, run, outcome);
    if (this.ttlMs === 0 || this.maxBytes === 0) {
      this.forget(orderId, kept);
      return outcome.kind;
    }
    this.keep({ ...kept.record, state: 'done', outcome }, this.now() + this.ttlMs);
    this.dropExpired();
    for (const [id, oldest] of this.records) {
      if (this.bytes <= this.maxBytes) break;
      if (oldest.expiresAt !== Infinity) this.forget(id, oldest);
    }
    return outcome.kind;
  }

  awaitRun(orderId: string, run: number, signal: AbortSignal): Promise<RecordedOutcome> {
    const kept = this.records.get(orderId)?.record;
    if (!kept || kept.runs !== run || kept.state !== 'running') {
      // Over already: its outcome if it is still the latest run, else nothing is known of it.
      return Promise.resolve(kept?.runs === run && kept.outcome ? kept.outcome : { kind: 'interrupted', replay: undefined });
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
        const list = this.waiters.get(orderId)?.filter((other) => other !== waiter) ?? [];
        if (list.length > 0) this.waiters.set(orderId, list);
        else this.waiters.delete(orderId);
        reject(signal.reason);
      };
      signal.addEventListener('abort', leave, { once: true });
      this.waiters.set(orderId, [...(this.waiters.get(orderId) ?? []), waiter]);
    });
  }

  private wake(orderId: string, run: number, outcome: RecordedOutcome): void {
    const list = this.waiters.get(orderId);
    if (!list) return;
    const others = list.filter((waiter) => waiter.run !== run);
    if (others.length > 0) this.waiters.set(orderId, others);
    else this.waiters.delete(orderId);
    for (const waiter of list) if (waiter.run === run) waiter.resolve(outcome);
  }

  size(): number {
    return this.records.size;
  }

  private lookup(orderId: string): OrderRecord | undefined {
    const kept = this.records.get(orderId);
    if (!kept) return undefined;
    if (kept.expiresAt <= this.now()) {
      this.forget(orderId, kept);
      return undefined;
    }
    return kept.record;
  }

  /** Bytes the records are estimated to take. */
  estimatedBytes(): number {
    return this.bytes;
  }

  private keep(record: OrderRecord, expiresAt: number): void {
    const previous = this.records.get(record.orderId);
    if (previous) {
      this.bytes -= previous.bytes;
      this.records.delete(record.orderId);
    }
    const bytes = sizeOf(record);
    this.bytes += bytes;
    this.records.set(record.orderId, { record, bytes, expiresAt });
  }

  private forget(orderId: string, kept: Kept): void {
    this.records.delete(orderId);
    this.bytes -= kept.bytes;
    this.onForget(orderId);
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [orderId, kept] of this.records) {
      if (kept.expiresAt === Infinity) continue;
      if (kept.expiresAt > now) break;
      this.forget(orderId, kept);
    }
  }
}
