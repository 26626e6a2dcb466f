/**
 * The outbox as the rest of the service reads it: every event a store wrote,
 * in the order it was written (`seq`), per client for the feed, by id for a
 * redelivery. Who writes is the store, where it records the fact the event
 * reports (src/store/memory-store.ts); the webhook relay is told of each
 * event appended and delivers it.
 */
import type { StoredEvent } from './order-event.js';

/** A page of a client's feed. */
export interface FeedPage {
  /** Its events, oldest first. */
  readonly events: StoredEvent[];
  /** Some of the client's events after the position asked from are gone (EVENTS_MAX, EVENT_RETENTION_DAYS): none is given. */
  readonly gap?: true;
}

/** What became of one event's delivery to one endpoint, as a store that keeps it says (Postgres). */
export interface DeliveryRecord {
  readonly eventSeq: number;
  readonly endpointId: string;
  /** Attempts that failed so far. */
  readonly failures: number;
  readonly firstAttemptAt: Date | undefined;
  /** When it was delivered or given up; undefined while it is owed. */
  readonly doneAt: Date | undefined;
  /** delivered, or why it was given up (failed, gone, dropped); undefined while it is owed. */
  readonly outcome: string | undefined;
}

export interface EventLog {
  /**
   * `client`'s events after `after` (a position; empty: from the first kept), oldest first, at most `limit`; or, if
   * some of its events after `after` are no longer kept, that there is a gap.
   */
  page(client: string, after: readonly number[], limit: number): Promise<FeedPage>;
  /** The events of one order of `client` still kept, oldest first (an order's timeline). */
  ofOrder(client: string, orderId: string): Promise<StoredEvent[]>;
  /**
   * What became of the deliveries of the events numbered `seqs` (of `client`'s orders: it reads in that client's share),
   * where the store keeps it (Postgres). Absent where it does not: in memory, a delivery is forgotten once done.
   */
  deliveriesOf?(seqs: readonly number[], client?: string): Promise<DeliveryRecord[]>;
  /** One event, if it is still kept. */
  get(id: string): Promise<StoredEvent | undefined>;
  /** Told of the events appended, in their order, once they are kept. */
  onAppended(listener: (events: readonly StoredEvent[]) => void): void;
}
