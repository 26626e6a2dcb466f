/**
 * What delivers the outbox's events to the webhooks, as the rest of the
 * service sees it: started before the server listens, asked to send an
 * event again, read for the metrics, closed at shutdown. In memory, the
 * relay of this process (webhook-relay.ts); in the durable mode, a queue on
 * Postgres shared by the instances (src/postgres/pg-webhook-lanes.ts). Each
 * runs on a thread of its own (relay-thread.ts, src/postgres/webhook-thread.ts),
 * never on the order path's.
 */
import type { Logger } from 'pino';
import type { DeliveryRecorder } from './delivery-traces.js';
import type { StatusByKind, StoredEvent } from './order-event.js';
import type { DisabledReason } from './webhook-endpoints.js';

export type DeliveryOutcome = 'delivered' | 'failed' | 'gone' | 'dropped';

export interface DeliveryOptions {
  readonly timeoutMs: number;
  readonly allowPrivate: boolean;
  readonly retryFirstMs: number;
  /** The longest wait between two attempts (WEBHOOK_RETRY_MAX_MS). */
  readonly retryMaxMs: number;
  readonly retryWindowMs: number;
  /** Deliveries owed, at most, shared between the clients (EVENTS_MAX). */
  readonly maxPending: number;
  /** How long events are kept, at least (durable). */
  readonly retentionDays: number;
  /** The HTTP status of each outcome kind, as a table: it crosses to the delivery thread (durable mode). */
  readonly statusByKind: StatusByKind;
  /** Each client's weight in its share of the sends (CLIENT_WEIGHTS; held-shares.ts); a client not named weighs 1. */
  readonly clientWeights: ReadonlyMap<string, number>;
  readonly log: Logger;
  /** Told of every attempt, for its span (tracing); absent with tracing off. */
  readonly recorder?: DeliveryRecorder;
}

export interface DeliveryFigures {
  /** Attempts by outcome, by this instance, since start. */
  readonly attempts: Readonly<Record<DeliveryOutcome, number>>;
  /** Endpoints this instance disabled, by reason, since start. */
  readonly disabled: Readonly<Record<DisabledReason, number>>;
  /** When the oldest event still waiting for a delivery was made; undefined if none waits. */
  readonly oldestUndeliveredAt: Date | undefined;
  readonly pending: number;
  /** Deliveries dropped because their client's share of the backlog was full, by client, since start. */
  readonly droppedByClient: Readonly<Record<string, number>>;
}

export interface Deliveries {
  start(): Promise<void>;
  /** Send one event again to every enabled endpoint of its client; how many deliveries were queued. */
  redeliver(event: StoredEvent): Promise<number>;
  figures(): Promise<DeliveryFigures>;
  close(): Promise<void>;
}
