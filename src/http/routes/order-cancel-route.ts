/**
 * POST /orders/{order_id}/cancel: the order's own client, or the admin,
 * cancels an order under way — on whatever thread its steps run, on
 * whatever instance runs it. Idempotent: a cancel of an order that ended
 * canceled answers as the first did.
 *
 * - 200 with the order's status once it has ended: `canceled`, with what it
 *   had charged refunded (or how it ended, had it failed on its own first);
 * - 202 with `Location` if it is still winding down after CANCEL_WAIT_MS
 *   (its steps canceled, its refund under way), or sooner as `Prefer:
 *   respond-async` or `wait=N` asks: GET it, or read its events;
 * - 409 `order_ended` for an order that had ended otherwise before the
 *   cancel, with its `lifecycle`; 404 for an order with no record.
 *
 * The admin names another client's order with `?client=NAME` (an audit line
 * says who canceled it); a client's key cannot. Who canceled it, and when,
 * is kept with the order's record for its timeline.
 */
import { setTimeout } from 'node:timers/promises';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { lifecycleOf } from '../../domain/lifecycle.js';
import { orderKey, orderLogFields, partsOfKey, type OrderKey } from '../../domain/order.js';
import type { CancelOutcome } from '../../orders/order-cancel.js';
import type { CancelRequester } from '../../orders/order-records.js';
import type { OrderStatus, OrderStatusQuery } from '../../orders/order-status.js';
import { audit } from '../../observability/logging.js';
import { auditActor } from '../guards/authorization.js';
import { orderStatusJson } from './order-status-route.js';
import { preferenceApplied, preferencesOf, type Preferences } from '../wire/preferences.js';
import { acceptedHeaders, NO_STORE, type Responder } from '../wire/responses.js';

/** How long a cancel waits for its order to end before it answers 202. */
export const CANCEL_WAIT_MS = 5000;

/** How long, at least, a cancel's answer asks again for the order's status when a read is turned away. */
const STATUS_READ_WITHIN_MS = 2000;
const STATUS_READ_RETRY_MS = 25;

export interface OrderCancelDependencies {
  readonly cancel: (key: OrderKey, by: CancelRequester, waitMs: number) => Promise<CancelOutcome>;
  readonly status: OrderStatusQuery;
  readonly responder: Responder;
  readonly log: Logger;
}

/** What the query names: no client (the caller's own order), one client, or nothing that makes sense. */
type NamedClient = { readonly client: string | undefined } | 'bad';

function clientOfQuery(originalUrl: string): NamedClient {
  // The app parses no query string (it costs every order); this route reads its own.
  const query = new URL(originalUrl, 'http://localhost').searchParams;
  if ([...query.keys()].some((name) => name !== 'client')) return 'bad';
  const named = query.getAll('client');
  if (named.length === 0) return { client: undefined };
  return named.length === 1 && named[0]!.length > 0 ? { client: named[0] } : 'bad';
}

/** The order a request names: the caller's own, or, for the admin, the client `?client=` names. */
export function namedOrder(req: Request, res: Response, orderId: string, responder: Responder): OrderKey | undefined {
  const { caller } = res.locals;
  const named = clientOfQuery(req.originalUrl);
  if (named === 'bad') {
    responder.error(res, 'bad_request', 'one query parameter only: client=NAME, the client whose order it is');
    return undefined;
  }
  const { client } = named;
  if (client === undefined) return orderKey(caller.client, orderId);
  if (!caller.admin && client !== caller.client) {
    responder.error(res, 'forbidden', "?client= names another client's order: only the admin key may");
    return undefined;
  }
  return orderKey(client, orderId);
}

/** How long a cancel waits for its order to end: CANCEL_WAIT_MS, or less if its `Prefer` asks; what it honoured. */
function cancelWait({ respondAsync, waitSeconds }: Preferences): { waitMs: number; applied: string[] } {
  if (respondAsync) return { waitMs: 0, applied: ['respond-async'] };
  if (waitSeconds !== undefined && waitSeconds * 1000 < CANCEL_WAIT_MS)
    return { waitMs: waitSeconds * 1000, applied: [`wait=${waitSeconds}`] };
  return { waitMs: CANCEL_WAIT_MS, applied: [] };
}

export function orderCancelRoute({
  cancel,
  status,
  responder,
  log,
}: OrderCancelDependencies): RequestHandler<{ orderId: string }> {
  return async (req, res) => {
    const { orderId } = req.params;
    const key = namedOrder(req, res, orderId, responder);
    if (key === undefined) return;
    const received = performance.now();
    const { waitMs, applied } = cancelWait(preferencesOf(req.headers.prefer));
    const { caller } = res.locals;
    // Named as its audit line names it: its client, and which admin key, by its fingerprint.
    const by: CancelRequester = caller.keyId
      ? { actor: caller.client, actorKey: caller.keyId }
      : { actor: caller.client };
    const outcome = await cancel(key, by, waitMs);
    if (outcome.kind === 'unknown') return responder.error(res, 'not_found', `no record of order ${orderId}`);
    if (outcome.kind === 'unavailable')
      return responder.error(res, 'store_unavailable', 'the order records cannot be reached right now; retry shortly');
    if (outcome.kind === 'ended' && outcome.outcome !== 'canceled') {
      const lifecycle = lifecycleOf('done', outcome.outcome);
      return responder.error(
        res,
        'order_ended',
        `order ${orderId} has ended ${lifecycle} (${outcome.outcome}): only an order under way can be canceled`,
        {},
        { lifecycle },
      );
    }
    if (partsOfKey(key).client !== caller.client)
      audit(
        log,
        'info',
        { audit: 'order_canceled', ...auditActor(caller), ...orderLogFields(key) },
        'order canceled by the admin',
      );
    const found = await statusAfterCancel(status, key, received + Math.max(waitMs, STATUS_READ_WITHIN_MS));
    if (!found) return responder.error(res, 'store_unavailable', 'the order records cannot be read right now');
    if (outcome.kind === 'canceling')
      return responder.json(res, 202, orderStatusJson(found), {
        ...acceptedHeaders(orderId),
        ...preferenceApplied(applied),
      });
    responder.json(res, 200, orderStatusJson(found), NO_STORE);
  };
}

/**
 * The order's status for a cancel's answer. The cancel has taken effect by now (marked, and the run stopped): a read
 * turned away — a busy store sheds reads it cannot serve in time, and forty cancels at once on a busy machine met it —
 * is asked again until `until`, rather than answer 503 to a cancel that did its work and have its client send it again.
 */
async function statusAfterCancel(
  status: OrderStatusQuery,
  key: OrderKey,
  until: number,
): Promise<OrderStatus | undefined> {
  for (let waitMs = STATUS_READ_RETRY_MS; ; waitMs = Math.min(2 * waitMs, 8 * STATUS_READ_RETRY_MS)) {
    try {
      return await status(key);
    } catch {
      if (performance.now() + waitMs > until) return undefined;
      await setTimeout(waitMs);
    }
  }
}
