/**
 * GET /orders/{order_id}: what the service and the payment provider know of
 * an order — whether it runs, how its latest run was answered, and the money
 * over all its runs, with a strong ETag of that answer: If-None-Match naming
 * it is 304 while the order is unchanged (wire/conditional.ts). 404 not_found for an id the service has no record of
 * (never seen, or its record has expired); 503 store_unavailable when the
 * records cannot be read (the durable mode, Postgres unreachable), 503
 * overloaded when the store turns the read away (too many reads at once).
 */
import type { RequestHandler } from 'express';
import { StoreBusy } from '../../domain/errors.js';
import type { OrderStatus, OrderStatusQuery } from '../../orders/order-status.js';
import type { OrderStatusJson } from '../wire/api-schemas.js';
import { STATUS_BY_KIND } from '../wire/error-status.js';
import { noneMatchNames, strongEtag } from '../wire/conditional.js';
import { POLLED, type Responder } from '../wire/responses.js';
import { orderKey } from '../../domain/order.js';
import type { OutcomeKind } from '../../orders/order-records.js';

/** How a run ended, as the API says it: its kind and the status it was answered with; null while it runs. */
export function outcomeJson(kind: OutcomeKind | undefined): OrderStatusJson['outcome'] {
  return kind === undefined ? null : { http_status: kind === 'ok' ? 200 : STATUS_BY_KIND[kind], kind };
}

export function orderStatusRoute(status: OrderStatusQuery, responder: Responder): RequestHandler<{ orderId: string }> {
  return async (req, res) => {
    const { orderId } = req.params;
    // The caller's own orders only: another client's id is as unknown here as one never sent (no existence oracle).
    const found = await status(orderKey(res.locals.caller.client, orderId)).catch((error: unknown) =>
      error instanceof StoreBusy ? ('busy' as const) : ('unavailable' as const),
    );
    if (found === 'busy') return responder.error(res, 'overloaded', 'too many reads at once; retry shortly');
    if (found === 'unavailable')
      return responder.error(res, 'store_unavailable', 'the order records cannot be read right now; retry shortly');
    if (!found) return responder.error(res, 'not_found', `no record of order ${orderId}`);
    const text = JSON.stringify(orderStatusJson(found));
    const headers = { ...POLLED, ETag: strongEtag(text) };
    if (!noneMatchNames(req.headers['if-none-match'], headers.ETag)) return responder.text(res, 200, text, headers);
    responder.notModified(res, headers);
  };
}

/** An order's status as GET /orders/{order_id} answers it (and a cancel, with what became of it). */
export function orderStatusJson(found: OrderStatus): OrderStatusJson {
  return {
    order_id: found.orderId,
    state: found.state,
    outcome: outcomeJson(found.outcome),
    runs: found.runs,
    payment: { charged: found.payment.charged, refunded: found.payment.refunded },
    ...(found.tier ? { tier: found.tier } : {}),
    lifecycle: found.lifecycle,
  };
}
