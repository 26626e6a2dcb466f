/**
 * The Store seam: where orders and money are kept — the order records, the
 * payment provider's books — and what keeping them somewhere implies for the
 * instance: its health, its readiness, its metrics, its start and stop, and,
 * when several instances share one store, the courier pool they share and
 * the lease that says this instance may still run orders. The in-memory
 * store (src/store/memory-store.ts) and the Postgres one
 * (src/postgres/postgres-store.ts) implement it; the composition root picks
 * one (src/composition/store.ts) and knows nothing else of either. A third
 * store is new files implementing this, and one line there.
 *
 * Lifecycle: opened (connected, migrated, registered) before the engine is
 * built, which takes `couriers` as the pool's size; `attach` hands it the
 * engine's pieces before any step runs; `start` before the server listens;
 * `close` after the drain.
 */
import type { Registry } from 'prom-client';
import type { KeySource } from '../auth/key-ring.js';
import type { Deliveries, DeliveryOptions } from '../events/deliveries.js';
import type { EventLog } from '../events/event-log.js';
import type { EndpointBook } from '../events/webhook-endpoints.js';
import type { OrderKey } from '../domain/order.js';
import type { PaymentLedger } from '../ledger/payment-ledger.js';
import type { EffectCaller, ServiceBooks } from '../ledger/service-books.js';
import type { OrderRecords, StepJournal, UnraisedAlarm } from '../orders/order-records.js';
import type { TakeoverRunner } from '../orders/takeover-rooms.js';
import type { StepAttempts } from '../orders/step-attempts.js';
import type { SlotSemaphore } from '../shared-memory/slot-semaphore.js';

/** What /healthz shows of a store shared by several instances (absent for one in memory): what this instance holds. */
export interface SharedStoreHealth {
  readonly instance_id: string | null;
  readonly store: 'up' | 'down';
  readonly lease: 'held' | 'lost';
  /** Runs this instance has begun and not yet recorded. */
  readonly orders_running: number;
  /** Courier slots this instance holds (of the pool shared by all). */
  readonly couriers_held: number;
  /** Orders of lost instances this instance took over, since start. */
  readonly orders_recovered: number;
}

/** The engine's pieces a store may need, handed over before any step runs. */
export interface EnginePieces {
  /**
   * The courier pool in shared memory: a shared store lends this instance only the slots it holds of the global pool.
   */
  readonly couriers: SlotSemaphore;
  /** Told of every order whose record the store forgets, so that what else is kept of it goes too. */
  readonly forget: (order: OrderKey) => void;
}

/**
 * The outbox and the webhook endpoints, kept by the store: an event is
 * written where the fact it reports is recorded, with it.
 */
export interface StoreEvents {
  readonly log: EventLog;
  /** What feed cursors are signed with (src/events/feed-cursor.ts): every instance sharing the store has the same. */
  readonly cursorSecret: Buffer;
  readonly endpoints: EndpointBook;
  /** What delivers the events: this process's relay, or a queue in the store shared by every instance. */
  deliveries(options: DeliveryOptions): Deliveries;
}

export interface Store {
  readonly records: OrderRecords;
  readonly ledger: PaymentLedger;
  /** The books of the services the other steps act on: the vendor's, the courier service's. */
  readonly services: ServiceBooks;
  /**
   * Who the steps of `run` call those services as: the claim's fence of the run as this instance holds it, and the
   * identity holding it. A store no other instance shares holds every run as begun.
   */
  callerOf(run: number): EffectCaller;
  /** Undefined where the store keeps no events: then there is no feed and no webhook. */
  readonly events: StoreEvents | undefined;
  /** The courier pool's size: COURIERS, or what the instances sharing the store already set. */
  readonly couriers: number;
  /**
   * Whether the store itself voids a run whose void the main thread could
   * not get through (recovery, in a shared store): then the main thread asks
   * once and leaves the rest to it, instead of asking again for as long as
   * the process lives.
   */
  readonly voidsRunsInDoubt: boolean;
  attach(engine: EnginePieces): void;
  /**
   * Told when this instance must stop what it runs (it gave up its lease): its orders are someone else's to recover.
   */
  onLost(listener: () => void): void;
  /**
   * Told of a run on record as compensation_failed whose alarm no one raised
   * (its instance was lost before it could, or before it told the records):
   * the listener writes its line, synchronously, and the store then counts it
   * raised. A store that no other instance shares never tells: its own
   * process raised every alarm before it could be lost.
   */
  onUnraisedAlarm(listener: (alarm: UnraisedAlarm) => void): void;
  /**
   * Told of each order a cancel was marked on by another instance (or whose notification this instance missed): the
   * listener stops its run if it runs here. A store no other instance shares never tells: the desk that marked the
   * cancel stopped the run itself.
   */
  onCancelRequested(listener: (order: OrderKey) => void): void;
  /**
   * Who runs the runs of lost instances this one takes over to run on (forward recovery), after their recorded steps:
   * each is claimed only once `runner` has given it room. A store no other instance shares never asks: nothing
   * outlives its process to be resumed.
   */
  resumeWith(runner: TakeoverRunner): void;
  /**
   * Take over no more runs of lost instances (the drain has begun): what this instance took over so far is its own to
   * end. Resolves once a takeover on its way has been told to the runner.
   */
  stopTakingOver(): Promise<void>;
  /** Where each step's end is recorded, for a resume; absent where nothing is ever resumed. */
  readonly journal?: StepJournal;
  /** Each step's attempts as recorded, for an order's timeline; absent where none is recorded. */
  readonly attempts?: StepAttempts;
  /** Whether no order can start now for want of the store (readiness). */
  unavailable(): boolean;
  /** For /healthz: what this instance holds of a shared store; undefined for one of its own. */
  sharedHealth(): SharedStoreHealth | undefined;
  /** API keys issued in the store itself (`npm run keys`), if it keeps any: besides API_KEYS. */
  apiKeys(): KeySource | undefined;
  /** The store's own figures, on the service's registry. */
  registerMetrics(registry: Registry): void;
  start(): Promise<void>;
  close(): Promise<void>;
}
