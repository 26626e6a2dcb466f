/**
 * What a client is told of its orders after the fact: an event per fact —
 * an order's outcome, recorded; a refund the service got through, or could
 * not — with what the client needs without asking again: the outcome's kind
 * and HTTP status, and the money charged and refunded over the order's runs
 * (what GET /orders/{order_id} shows). An event's `id` is the idempotency key
 * of its delivery (`webhook-id`): the same on every attempt and every
 * redelivery.
 *
 * Which events a recorded outcome makes is decided here, once, for every
 * store: a success; a failure (with its refund, when the run's money went
 * back, and the refund's failure when it could not); an interruption (with
 * the void recovery made); a cancel (with its refund). A refund the
 * background voider gets through after the outcome is its own `payment.refunded`, after the `order.failed`.
 */
import type { OrderFailureKind } from '../domain/errors.js';

export const EVENT_TYPES = [
  'order.succeeded',
  'order.failed',
  'order.interrupted',
  'order.canceled',
  'order.dead_lettered',
  'payment.refunded',
  'payment.refund_failed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** How a run ended: 'ok', or the kind it failed with (the records' OutcomeKind). */
export type EventOutcomeKind = OrderFailureKind | 'ok';

/** Money over every run of the order, as the payment provider's books hold it when the event is made. */
export interface EventMoney {
  readonly charged: number;
  readonly refunded: number;
}

/** The order's trace, as its event keeps it: its trace id and the span id of the request that ran it (its server span). */
export interface EventTraceContext {
  readonly traceId: string;
  readonly spanId: string;
}

/** An event as a store writes it, before it has an id and a place in the log. */
export interface NewEvent {
  readonly type: EventType;
  readonly client: string;
  readonly orderId: string;
  /** The run it is about (the payment provider's key with the order id). */
  readonly run: number;
  /** The kind on record for the run. */
  readonly kind: EventOutcomeKind;
  readonly money: EventMoney;
  /** The trace of the request that recorded it, if that trace is recorded: its deliveries' spans link to it. */
  readonly trace?: EventTraceContext;
}

/** An event as the log keeps it. */
export interface StoredEvent extends NewEvent {
  readonly id: string;
  /** Its number in the log. */
  readonly seq: number;
  /**
   * Its place in the feed's order, compared element by element: `[seq]` in
   * memory; in Postgres the inserting transaction's id and then `seq`, so
   * that a row committed late is never behind a cursor already past it.
   */
  readonly position: readonly number[];
  readonly at: Date;
}

/** The event as a client reads it (GET /events) and receives it (the webhook's body). */
export interface EventJson {
  readonly id: string;
  readonly type: EventType;
  readonly timestamp: string;
  readonly client: string;
  readonly data: {
    readonly order_id: string;
    readonly outcome: { readonly kind: EventOutcomeKind; readonly http_status: number };
    readonly payment: EventMoney;
  };
}

/** The HTTP status of an outcome's kind: the HTTP layer's table, handed in by the composition root. */
export type StatusOfKind = (kind: EventOutcomeKind) => number;
/** The same, as a table that can be sent to another thread. */
export type StatusByKind = Readonly<Record<EventOutcomeKind, number>>;

/**
 * The events of a run's recorded outcome, in the order they happened.
 * `runRefunded`: what the run's own money got back by the time it was recorded.
 */
export function typesOfOutcome(kind: EventOutcomeKind, runRefunded: number): EventType[] {
  switch (kind) {
    case 'ok':
      return ['order.succeeded'];
    case 'interrupted':
    case 'canceled':
    case 'dead_lettered':
      return runRefunded > 0 ? [`order.${kind}`, 'payment.refunded'] : [`order.${kind}`];
    case 'compensation_failed':
      return ['order.failed', 'payment.refund_failed'];
    default:
      return runRefunded > 0 ? ['order.failed', 'payment.refunded'] : ['order.failed'];
  }
}

export function eventJson(event: StoredEvent, statusOf: StatusOfKind): EventJson {
  return {
    id: event.id,
    type: event.type,
    timestamp: event.at.toISOString(),
    client: event.client,
    data: {
      order_id: event.orderId,
      outcome: { kind: event.kind, http_status: statusOf(event.kind) },
      payment: { charged: event.money.charged, refunded: event.money.refunded },
    },
  };
}
