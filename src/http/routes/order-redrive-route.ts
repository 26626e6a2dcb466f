/**
 * POST /admin/orders/{order_id}/redrive?client=NAME: the admin sends on an
 * order parked `dead_lettered`, or failed by the infrastructure, as a new run
 * from its first unfinished step (durable mode; in memory nothing is kept to
 * redrive). Audited.
 *
 * - 202 with the order's status (running) and `Location` once the new run is
 *   begun: GET it, or read its events;
 * - admitted first, as a new order is: with no room for it here, 503
 *   `overloaded` (or `shutting_down`, or a dependency's kind) with
 *   Retry-After, the order left as it was, to be redriven again;
 * - 409 `money_unsettled` while the run before holds money (charged, not all
 *   refunded): it is settled first; 409 `not_redrivable` for an order that is
 *   running or ended otherwise, with its `lifecycle`; 404 for no record.
 */
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { lifecycleOf, REDRIVABLE_OUTCOMES } from '../../domain/lifecycle.js';
import { orderLogFields, type OrderKey } from '../../domain/order.js';
import type { Trace } from '../../domain/trace.js';
import { audit } from '../../observability/logging.js';
import type { OrderStatusQuery } from '../../orders/order-status.js';
import type { RedriveAnswer } from '../../orders/order-desk.js';
import type { Capacity } from '../../orders/order-admission.js';
import { refusalAnswer } from '../wire/refusal-answers.js';
import { auditActor } from '../guards/authorization.js';
import { namedOrder } from './order-cancel-route.js';
import { orderStatusJson } from './order-status-route.js';
import { acceptedHeaders, type Responder } from '../wire/responses.js';

export interface OrderRedriveDependencies {
  readonly redrive: (key: OrderKey, trace: Trace) => Promise<RedriveAnswer>;
  readonly status: OrderStatusQuery;
  /** MAX_INFLIGHT, for the words of a refusal. */
  readonly capacity: () => Capacity;
  readonly responder: Responder;
  readonly log: Logger;
}

export function orderRedriveRoute({
  redrive,
  status,
  capacity,
  responder,
  log,
}: OrderRedriveDependencies): RequestHandler<{ orderId: string }> {
  return async (req, res) => {
    const { orderId } = req.params;
    const key = namedOrder(req, res, orderId, responder);
    if (key === undefined) return;
    const found = await redrive(key, res.locals.trace).catch(() => undefined);
    if (found === undefined)
      return responder.error(res, 'store_unavailable', 'the order records cannot be reached right now; retry shortly');
    if (found.kind === 'unknown') return responder.error(res, 'not_found', `no record of order ${orderId}`);
    if (found.kind === 'refused') {
      const refusal = refusalAnswer(found.because, { tier: found.tier, maxInflight: capacity().maxInflight });
      return responder.error(
        res,
        refusal.kind,
        `order ${orderId} was not redriven: ${refusal.message}`,
        refusal.headers,
      );
    }
    if (found.kind !== 'redriven') {
      const lifecycle = found.outcome === undefined ? 'running' : lifecycleOf('done', found.outcome);
      return found.kind === 'money_unsettled'
        ? responder.error(
            res,
            'money_unsettled',
            `order ${orderId} ended ${found.outcome} holding money not refunded: it is settled before it is sent on`,
            {},
            { lifecycle },
          )
        : responder.error(
            res,
            'not_redrivable',
            found.outcome !== undefined && found.outcome !== 'ok' && REDRIVABLE_OUTCOMES.includes(found.outcome)
              ? `order ${orderId} is ${lifecycle} on the service's deadline: only an order with a deadline_ms of its own keeps what it asked, to be sent on; its client may send it again`
              : `order ${orderId} is ${lifecycle}: only an order dead_lettered or failed by the infrastructure is redriven`,
            {},
            { lifecycle },
          );
    }
    audit(
      log,
      'info',
      {
        audit: 'order_redriven',
        ...auditActor(res.locals.caller),
        ...orderLogFields(key),
        run_key: found.resumption.run,
      },
      'order redriven by the admin',
    );
    const now = await status(key).catch(() => undefined);
    if (!now) return responder.error(res, 'store_unavailable', 'the order records cannot be read right now');
    responder.json(res, 202, orderStatusJson(now), acceptedHeaders(orderId));
  };
}
