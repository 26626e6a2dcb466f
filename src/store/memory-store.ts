/**
 * The default store: the order records and the provider's books in this
 * process's memory, bounded together. The books of an order, and what the
 * engine keeps of it (its money at risk), are kept exactly as long as its
 * record, and their bytes count in the records' bound (ORDER_RECORDS_MAX_MB).
 * Nothing is shared, so there is no lease to lose, no courier pool to lend,
 * and nothing to recover: a process that dies takes it all along.
 */
import type { Registry } from 'prom-client';
import type { OrderKey } from '../domain/order.js';
import { booksBytesOf, MemoryLedger } from '../ledger/memory-ledger.js';
import { MemoryOrderRecords } from '../orders/memory-order-records.js';
import type { EnginePieces, SharedStoreHealth, Store } from './store.js';

export interface MemoryStoreOptions {
  /** How long an order's record is kept once it is done (IDEMPOTENCY_TTL_MS). */
  readonly ttlMs: number;
  /** The records' bound, with everything kept alongside each (ORDER_RECORDS_MAX_MB). */
  readonly maxBytes: number;
  /** COURIERS. */
  readonly couriers: number;
  /** What the engine keeps of an order whose money is at risk (it ended compensation_failed, or may yet: it runs). */
  readonly atRiskBytes: number;
}

export class MemoryStore implements Store {
  readonly ledger = new MemoryLedger();
  readonly records: MemoryOrderRecords;
  readonly couriers: number;
  readonly voidsRunsInDoubt = false;
  private forgetAlongside: (order: OrderKey) => void = () => {};

  constructor(options: MemoryStoreOptions) {
    this.couriers = options.couriers;
    this.records = new MemoryOrderRecords(options.ttlMs, options.maxBytes, {
      onForget: (order) => {
        this.ledger.forget(order);
        this.forgetAlongside(order);
      },
      alongside: (record) =>
        booksBytesOf(record.runs) +
        (record.state === 'running' || record.outcome?.kind === 'compensation_failed' ? options.atRiskBytes : 0),
    });
  }

  attach({ forget }: EnginePieces): void {
    this.forgetAlongside = forget;
  }

  onLost(): void {
    // Nothing is shared: nothing to lose.
  }

  onUnraisedAlarm(): void {
    // The process that ran an order raised its alarm: nothing outlives it here to be raised by another.
  }

  unavailable(): boolean {
    return false;
  }

  sharedHealth(): SharedStoreHealth | undefined {
    return undefined;
  }

  apiKeys(): undefined {
    // Keys of a process's own memory would be gone at its next start: API_KEYS is where they live.
    return undefined;
  }

  registerMetrics(_registry: Registry): void {
    // The service's own metrics already count the records and the books.
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {}
}
