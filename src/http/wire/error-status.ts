/**
 * The one table from error kind to HTTP status. Nothing else in the service
 * knows about statuses; it is total over the kinds, so a new kind does not
 * compile until it has one.
 */
import type { ErrorKind } from '../../domain/errors.js';

export const STATUS_BY_KIND: Readonly<Record<ErrorKind, number>> = {
  bad_request: 400,
  payment_declined: 400,
  unauthorized: 401,
  forbidden: 403,
  cross_site_request: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  payload_too_large: 413,
  unsupported_media_type: 415,
  misdirected_request: 421,
  too_many_webhooks: 409,
  canceled: 409,
  order_ended: 409,
  not_redrivable: 409,
  money_unsettled: 409,
  events_gone: 410,
  idempotency_key_reuse: 422,
  rate_limited: 429,
  headers_too_large: 431,
  client_gone: 499, // never sent: the client is gone; the figure is for logs and metrics
  internal: 500,
  compensation_failed: 500,
  dead_lettered: 500, // parked after ORDER_RECOVERIES_MAX takeovers: an operator redrives it
  refund_failed: 500, // a compensation's own kind; its order answers compensation_failed
  payment_unavailable: 503,
  vendor_unavailable: 503,
  no_courier: 503,
  thread_lost: 503,
  interrupted: 503,
  outcome_unknown: 503,
  store_unavailable: 503,
  overloaded: 503,
  shutting_down: 503,
  timeout: 504,
};
