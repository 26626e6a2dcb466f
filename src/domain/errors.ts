/**
 * Error kinds: the stable names every failure is known by, from a step's
 * decline to a dead thread. They are values, not classes, because they cross
 * threads as plain data; HTTP maps them to statuses in one place
 * (src/http/wire/error-status.ts) and nothing else knows about statuses.
 */

import { STEP_FAILURE_KINDS, type StepFailureKind } from './steps.js';

/** Kinds a step or a compensation can fail with on purpose: each step's own, from the step registry. */
export { STEP_FAILURE_KINDS, type StepFailureKind } from './steps.js';

/** Why an order can end without success, besides its steps' own kinds. */
const ORDER_OWN_FAILURE_KINDS = [
  'timeout', // the order's deadline passed
  'client_gone', // the client disconnected; nothing is sent
  'shutting_down', // the server stopped before the order could finish
  'overloaded', // no room for it: too many orders in flight, or the worker pool's queue is full
  'compensation_failed', // the order failed and undoing a step that had succeeded failed too: needs a person
  'thread_lost', // a step's thread was lost under it through no fault of its own, again and again: retry
  'interrupted', // its instance was lost (or lost its store) mid-run: its payment voided, nothing of it stands: retry
  'outcome_unknown', // the store went away while the order was being begun or its outcome recorded, and could not say what it kept: retry to learn it
  'store_unavailable', // the durable store (Postgres) cannot be reached: nothing was started: retry
  'internal', // a bug in a step (it crashed, or brought its thread down); details go to the log only
  'canceled', // its client or the admin canceled it (POST /orders/{id}/cancel): its payment refunded; final
  'dead_lettered', // its instances were lost more than ORDER_RECOVERIES_MAX times: parked, its payment voided; final
] as const;

/** Why an order can end without success. */
export type OrderFailureKind = StepFailureKind | (typeof ORDER_OWN_FAILURE_KINDS)[number];

/** Every kind an order can fail with, in a fixed order (a done order's record keeps a kind as its index here). */
export const ORDER_FAILURE_KINDS: readonly OrderFailureKind[] = [...STEP_FAILURE_KINDS, ...ORDER_OWN_FAILURE_KINDS];

export type ErrorKind =
  | OrderFailureKind
  | 'bad_request'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'method_not_allowed'
  | 'not_found'
  | 'request_timeout' // the request did not arrive within HEADERS_TIMEOUT_MS / REQUEST_TIMEOUT_MS
  | 'headers_too_large'
  | 'idempotency_key_reuse' // the order_id was used before with a different order
  | 'unauthorized' // no API key, or one nobody was issued
  | 'forbidden' // a key that may not do this (a client's key on the admin surface)
  | 'rate_limited' // the client sent more orders than its CLIENT_RATE_LIMIT allows: nothing was read or started
  | 'misdirected_request' // the Host header names a host this service does not answer for
  | 'cross_site_request' // a request that changes state, made by a page of another origin (src/http/guards/cross-site.ts)
  | 'too_many_webhooks' // the client has WEBHOOKS_PER_CLIENT webhook endpoints already
  | 'order_ended' // a cancel of an order that has already ended otherwise than canceled
  | 'not_redrivable' // a redrive of an order running, or ended otherwise than parked or failed by the infrastructure
  | 'money_unsettled' // a redrive of an order whose last run holds money not refunded
  | 'events_gone'; // some of the client's events after its feed cursor are no longer kept: a gap, said

/**
 * An error that is an outcome, not a bug — a step's decline, a cancellation, an order aborted — and so is made without
 * a stack trace: nobody reads one, and capturing it (a walk of up to ten frames) would be a share of what every
 * failed order costs its threads.
 */
export class OutcomeError extends Error {
  constructor(message: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
  }
}

/**
 * The reason an order's AbortSignal carries: which kind ended the order.
 * Steps canceled by it report "canceled: <kind>".
 */
export class OrderAborted extends OutcomeError {
  constructor(readonly kind: OrderFailureKind) {
    super(`order aborted: ${kind}`);
    this.name = 'OrderAborted';
  }
}

/**
 * The reason a run is stopped at a graceful stop to be handed over to another instance (durable mode): its steps are
 * canceled as for `shutting_down`, which its callers here are told (ask again: a retry with the same order_id gets the
 * run's end), but nothing of it is undone — it runs on elsewhere under the same run, the payment provider's key, and
 * what its steps did stands for it there.
 */
export class RunHandedOver extends OrderAborted {
  constructor() {
    super('shutting_down');
    this.name = 'RunHandedOver';
  }
}

/**
 * A store turned a request away because it is busy, not because it is down:
 * too many reads at once, or no connection came free in time. Answered 503
 * `overloaded` with Retry-After, never as an outage (`store_unavailable`).
 */
export class StoreBusy extends Error {
  override readonly name = 'StoreBusy';
  /** The request reached the store and no answer came back: what it asked may have been done all the same. */
  readonly unanswered: boolean;
  constructor(message: string, options?: StoreFailureOptions) {
    super(message, options);
    this.unanswered = options?.unanswered ?? false;
  }
}

/**
 * A store that cannot be reached: a failed connect, a connection lost, a
 * failed probe (the durable mode's Postgres; src/postgres/failures.ts says
 * which failures). Answered 503 `store_unavailable` with Retry-After.
 */
export class StoreUnavailable extends Error {
  override readonly name: string = 'StoreUnavailable';
  /** As StoreBusy's: the request was sent before the store went, and may have been done. */
  readonly unanswered: boolean;
  constructor(message: string, options?: StoreFailureOptions) {
    super(message, options);
    this.unanswered = options?.unanswered ?? false;
  }
}

/** A store's failure: its cause, and whether the request had reached the store when it failed. */
export interface StoreFailureOptions {
  readonly cause?: unknown;
  readonly unanswered?: boolean;
}

/**
 * Whether a store's failure leaves unknown what the request did: it was sent, and its answer never came (a statement
 * timed out, its connection went). A write so failed may have committed.
 */
export function unanswered(error: unknown): boolean {
  return (error instanceof StoreBusy || error instanceof StoreUnavailable) && error.unanswered;
}

/** The kind behind an abort reason: ours, AbortSignal.timeout's TimeoutError, or anything else. */
export function abortKind(reason: unknown): OrderFailureKind {
  if (reason instanceof OrderAborted) return reason.kind;
  if (reason instanceof DOMException && reason.name === 'TimeoutError') return 'timeout';
  return 'internal';
}
