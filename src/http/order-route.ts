/**
 * POST /order: check the media type, read at most 64 KiB, decode strictly,
 * hand the order to the idempotency desk — which replays it, joins it to a
 * run under way, refuses a reused order_id, or starts it if there is room —
 * answer with its outcome, and log one line for it. A client that goes away
 * cancels its order (once no other caller waits for it); nothing is sent to it.
 */
import type { RequestHandler } from 'express';
import { OrderAborted, type ErrorKind } from '../domain/errors.js';
import { NO_FAULTS } from '../domain/faults.js';
import { keyOfOrder } from '../domain/order.js';
import type { ClientShares } from '../orders/client-shares.js';
import type { Admission, AnsweredVia, DependencyDown, OrderDesk, ShareFull } from '../orders/order-desk.js';
import type { OrderObserver } from '../observability/metrics.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';
import type { StepOutcome } from '../pipeline/steps.js';
import { readBody } from './body-reader.js';
import type { Capacity } from './health-route.js';
import { requireJson } from './json-body.js';
import { decodeOrder } from './order-body.js';
import { writeRequestLine } from './request-log.js';
import { STATUS_BY_KIND } from './error-status.js';
import { SHUTTING_DOWN_MESSAGE, statusOf, type Responder } from './responses.js';

export { MAX_BODY_BYTES } from './body-reader.js';

const NONE: readonly StepOutcome[] = [];
/** Said of an answer replayed from the records. */
const REPLAYED: Readonly<Record<string, string>> = { 'Idempotent-Replayed': 'true' };

/** What the HTTP layer needs to have an order answered. */
export interface OrderRouteDependencies {
  readonly orders: OrderDesk;
  readonly capacity: () => Capacity;
  readonly draining: () => boolean;
  readonly responder: Responder;
  readonly observer: OrderObserver;
  /** Whether an order may carry `faults` (FAULT_INJECTION=on). */
  readonly faultInjection: boolean;
  /** What the dependencies' circuit breakers say of a new order (asked last, once it would otherwise start). */
  readonly dependencies?: (client: string) => Admission;
  /** Each client's share of the orders in flight and of the records (the bulkheads); without: none. */
  readonly clientShares?: Pick<ClientShares, 'asked' | 'fullFor' | 'counted'>;
}

export function orderRoute({
  orders,
  capacity,
  draining,
  responder,
  observer,
  faultInjection,
  dependencies = () => 'admitted',
  clientShares,
}: OrderRouteDependencies): RequestHandler[] {
  const run: RequestHandler = async (req, res) => {
    const decoded = decodeOrder(Buffer.isBuffer(req.body) ? req.body : undefined, {
      faultInjection,
      client: res.locals.caller.client,
    });
    if (!decoded.ok) return responder.error(res, 'bad_request', decoded.message);
    const { order } = decoded;
    if (order.faults !== NO_FAULTS && !res.locals.caller.admin)
      return responder.error(
        res,
        'forbidden',
        "faults are the admin's: an order carrying them needs the admin key (ADMIN_KEY)",
      );
    const elapsed = (): number => performance.now() - res.locals.arrivedAt;
    res.locals.requestSpan?.carries(keyOfOrder(order));

    /** The metrics and the request's log line, for every order however it ended. */
    const answered = (
      kind: ErrorKind | 'ok',
      status: number,
      result: OrderResult | undefined,
      via?: AnsweredVia,
    ): void => {
      const steps = result?.steps ?? NONE;
      const compensations = result?.compensations ?? NONE;
      observer.orderAnswered({ status, kind, durationMs: elapsed(), steps, compensations, via });
      writeRequestLine(res, status, { client: order.client, orderId: order.orderId, kind, steps, compensations, via });
    };

    // Asked by the desk with no await before the run starts, which counts the
    // order at once: never more than MAX_INFLIGHT orders in flight. Asked
    // once the body has arrived, however long that took: an order whose body
    // finishes arriving after draining began is not admitted.
    const admit = (): Admission => {
      if (draining()) return 'shutting_down';
      // Before the service is found full: a client turned away is still one whose floor must be kept.
      clientShares?.asked(order.client);
      const { ordersInFlight, maxInflight } = capacity();
      if (ordersInFlight >= maxInflight) return 'overloaded';
      if (!clientShares) return dependencies(order.client);
      // The breakers last: a half-open one lets one probe order through, which must not be an order shed here.
      return clientShares.fullFor(order.client) ?? clientShares.counted(order.client, dependencies(order.client));
    };

    /** Nothing started: the client's share is full; other clients' orders are not affected. */
    const refuseForShare = ({ client, share, held, limit }: ShareFull): void => {
      responder.error(
        res,
        'overloaded',
        share === 'orders_in_flight'
          ? `client ${client} has ${held} orders in flight: its whole share while other clients share the service (${limit} now: at most CLIENT_MAX_SHARE of MAX_INFLIGHT, less the room kept for other active clients' floors); other clients' orders are not affected; retry shortly`
          : `what is kept of client ${client}'s orders fills its whole share of the order records' memory (CLIENT_MAX_SHARE of ORDER_RECORDS_MAX_MB, ${(limit / 2 ** 20).toFixed(1)} MB) until older ones expire (IDEMPOTENCY_TTL_MS); other clients' orders are not affected; retry shortly`,
      );
      observer.orderShed();
      answered('overloaded', STATUS_BY_KIND.overloaded, undefined);
    };

    /**
     * Nothing started, nothing recorded: answered at once with the dependency's kind, and when its breaker may let an
     * order through.
     */
    const refuseForDependency = ({ unavailable, dependency, retryAfterMs }: DependencyDown): void => {
      const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
      responder.error(
        res,
        unavailable,
        `${dependency} is unavailable (its circuit breaker is open): nothing was started; retry in ${seconds} s`,
        { 'Retry-After': String(seconds) },
      );
      answered(unavailable, STATUS_BY_KIND[unavailable], undefined);
    };

    const client = new AbortController();
    const onClose = (): void => {
      if (res.writableEnded) return;
      client.abort(new OrderAborted('client_gone'));
      // Node treats a half-closed connection as gone but keeps it open for
      // a response that will never come; release it now.
      res.destroy();
    };
    res.once('close', onClose);
    // The request's line waits for the order's outcome, even if the client leaves first.
    res.locals.orderRunning = true;
    if (req.socket.destroyed) onClose();
    try {
      const submission = await orders.submit(order, client.signal, res.locals.trace, admit);
      switch (submission.kind) {
        case 'reused':
          responder.error(
            res,
            'idempotency_key_reuse',
            `order_id ${order.orderId} was used for a different order; send this one with a new order_id`,
          );
          answered('idempotency_key_reuse', STATUS_BY_KIND.idempotency_key_reuse, undefined);
          return;
        case 'refused':
          if (typeof submission.because === 'object') {
            if ('share' in submission.because) refuseForShare(submission.because);
            else refuseForDependency(submission.because);
            return;
          }
          if (submission.because === 'shutting_down') {
            responder.error(res, 'shutting_down', SHUTTING_DOWN_MESSAGE);
          } else {
            responder.error(
              res,
              'overloaded',
              submission.full === 'records'
                ? 'no room to record another order until older ones expire (every order is kept for IDEMPOTENCY_TTL_MS); retry shortly'
                : `${capacity().maxInflight} orders are in flight; retry shortly`,
            );
            observer.orderShed();
          }
          answered(submission.because, STATUS_BY_KIND[submission.because], undefined);
          return;
        case 'answered': {
          const { result, via } = submission;
          if (client.signal.aborted) return answered('client_gone', STATUS_BY_KIND.client_gone, result, via);
          answered(result.failure ?? 'ok', statusOf(result), result, via);
          responder.order(res, result, via === 'replayed' ? REPLAYED : undefined);
        }
      }
    } finally {
      res.off('close', onClose);
    }
  };

  return [requireJson(responder), readBody(), run];
}
