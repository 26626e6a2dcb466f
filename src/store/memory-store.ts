/**
 * The default store: the order records and the provider's books in this
 * process's memory, bounded together. The books of an order under way are
 * the provider's; once it is done, its record keeps them, folded in (a done
 * order is one small record: docs/decisions/an-order-as-a-record.md). They
 * and what the engine keeps of an order (its money at risk) are kept exactly
 * as long as its record, and their bytes count in the records' bound
 * (ORDER_RECORDS_MAX_MB).
 * Nothing is shared, so there is no lease to lose, no courier pool to lend,
 * and nothing to recover: a process that dies takes it all along.
 *
 * The outbox too (src/events/): each outcome recorded, and each refund of a
 * run whose outcome is recorded already (the background voider's), appends
 * its events in the same turn as the change, nothing awaited between — so no
 * change goes without its event and no event without its change, while the
 * process lives.
 */
import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import { partsOfKey, type OrderKey } from '../domain/order.js';
import type { OrderTraceOf } from '../events/delivery-traces.js';
import { MemoryEventLog } from '../events/memory-event-log.js';
import { typesOfOutcome, type EventType } from '../events/order-event.js';
import { MemoryEndpointBook } from '../events/webhook-endpoints.js';
import { RelayThread } from '../events/relay-thread.js';
import { compiledModule } from '../paths.js';
import { booksBytesOf, MemoryLedger, type FoldedBooksShelf } from '../ledger/memory-ledger.js';
import type { PaymentKey, VoidAnswer } from '../ledger/payment-ledger.js';
import { MemoryServiceBooks, SERVICE_BOOKS_BYTES } from '../ledger/memory-service-books.js';
import type { EffectCaller } from '../ledger/service-books.js';
import { MemoryOrderRecords } from '../orders/memory-order-records.js';
import type { RecordedOutcome } from '../orders/order-records.js';
import type { EnginePieces, SharedStoreHealth, Store, StoreEvents } from './store.js';

export interface MemoryStoreOptions {
  /** How long an order's record is kept once it is done (IDEMPOTENCY_TTL_MS). */
  readonly ttlMs: number;
  /** The records' bound, with everything kept alongside each (ORDER_RECORDS_MAX_MB). */
  readonly maxBytes: number;
  /** COURIERS. */
  readonly couriers: number;
  /** What the engine keeps of an order whose money is at risk (it ended compensation_failed, or may yet: it runs). */
  readonly atRiskBytes: number;
  /** Events kept at most (EVENTS_MAX). */
  readonly eventsMax: number;
  /** CLIENT_WEIGHTS: each client's part of EVENTS_MAX follows its weight. */
  readonly clientWeights: ReadonlyMap<string, number>;
  /** The trace of an order being recorded, kept on its events (tracing); absent with tracing off. */
  readonly traceOf?: OrderTraceOf;
}

/** Every run as begun: nothing outlives this process to take one over. */
const AS_BEGUN: EffectCaller = { fence: 0, instance: undefined };

export class MemoryStore implements Store {
  readonly ledger: MemoryLedger;
  readonly services = new MemoryServiceBooks();
  readonly records: MemoryOrderRecords;
  private readonly outbox: MemoryEventLog;
  readonly events: StoreEvents;
  readonly couriers: number;
  readonly voidsRunsInDoubt = false;
  private forgetAlongside: (order: OrderKey) => void = () => {};
  private readonly traceOf: OrderTraceOf | undefined;

  constructor(options: MemoryStoreOptions) {
    this.traceOf = options.traceOf;
    this.couriers = options.couriers;
    this.outbox = new MemoryEventLog(options.eventsMax, options.clientWeights);
    const endpoints = new MemoryEndpointBook();
    this.events = {
      log: this.outbox,
      // The events live as long as the process: so do the cursors into them.
      cursorSecret: randomBytes(32),
      endpoints,
      deliveries: (options) =>
        new RelayThread(this.outbox, endpoints, options, compiledModule('src/events/relay-worker')),
    };
    // The books of done orders are on their records' shelf: each refers to the other.
    const shelf: FoldedBooksShelf = {
      booksOf: (order) => this.records.booksOf(order),
      rewrite: (order, books) => this.records.rewrite(order, books),
    };
    this.ledger = new MemoryLedger((key, answer) => this.voided(key, answer), shelf);
    this.records = new MemoryOrderRecords(options.ttlMs, options.maxBytes, {
      onForget: (order) => {
        this.ledger.forget(order);
        this.services.forget(order);
        this.forgetAlongside(order);
      },
      // The books while the order runs (once done, its record holds the provider's); its money at risk while it may be.
      alongside: (record) =>
        record.state === 'running'
          ? booksBytesOf(record.runs) + SERVICE_BOOKS_BYTES + options.atRiskBytes
          : record.outcome?.kind === 'compensation_failed'
            ? options.atRiskBytes
            : 0,
      onRecorded: (key, run, outcome) => this.recorded(key, run, outcome),
      ledger: this.ledger,
    });
  }

  private recorded(order: OrderKey, run: number, outcome: RecordedOutcome): void {
    // Every request of the run was settled before its outcome, and a later run is another key (memory-service-books.ts).
    this.services.forget(order);
    const { refunded } = this.ledger.moneyOfRunNow({ order, run });
    this.append(order, run, outcome.kind, typesOfOutcome(outcome.kind, refunded));
  }

  /** A refund of a run already recorded done: the background voider's, its own event after the outcome's. */
  private voided({ order, run }: PaymentKey, answer: VoidAnswer): void {
    if (answer === 'nothing_to_refund') return;
    const record = this.records.recordOf(order);
    // Still running: the outcome's events will say it.
    if (!record || record.state !== 'done' || record.runs !== run || !record.outcome) return;
    this.append(order, run, record.outcome.kind, [
      answer === 'refunded' ? 'payment.refunded' : 'payment.refund_failed',
    ]);
  }

  private append(order: OrderKey, run: number, kind: RecordedOutcome['kind'], types: readonly EventType[]): void {
    const { client, orderId } = partsOfKey(order);
    const money = this.ledger.moneyOfNow(order) ?? { charged: 0, refunded: 0 };
    const trace = this.traceOf?.(order);
    this.outbox.append(types.map((type) => ({ type, client, orderId, run, kind, money, ...(trace ? { trace } : {}) })));
  }

  callerOf(): EffectCaller {
    return AS_BEGUN;
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

  onCancelRequested(): void {
    // Only this process marks cancels, and its desk stops the run as it marks one.
  }

  resumeWith(): void {
    // The process is the only record of what its orders did: once it is gone, nothing is left to resume.
  }

  stopTakingOver(): Promise<void> {
    return Promise.resolve();
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
