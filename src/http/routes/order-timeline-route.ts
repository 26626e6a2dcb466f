/**
 * GET /orders/{order_id}/timeline: one order as the service recorded it —
 * its latest run's steps (each with the thread of its last attempt, its
 * attempts after a thread died, its retries), what was undone, why it
 * failed, its money, and its events. The same rules as GET /orders/{id}:
 * the caller's own orders, another's as unknown as one never sent (404);
 * the admin reads any client's with client=, which a client may not name
 * but itself (403).
 */
import type { RequestHandler } from 'express';
import { CLIENT_NAME } from '../../auth/caller.js';
import { orderKey } from '../../domain/order.js';
import type { ClientEvents } from '../../events/client-events.js';
import type { PaymentLedger } from '../../ledger/payment-ledger.js';
import type { OrderRecord, OrderRecords } from '../../orders/order-records.js';
import type { StepOutcome } from '../../pipeline/steps.js';
import { outcomeJson } from './order-status-route.js';
import type { OrderTimelineJson, TimelineStepJson } from '../wire/order-view-schemas.js';
import { NO_STORE, type Responder } from '../wire/responses.js';

export interface TimelineSources {
  readonly records: Pick<OrderRecords, 'get'>;
  readonly ledger: Pick<PaymentLedger, 'moneyOf'>;
  /** Undefined where the store keeps no events. */
  readonly events: Pick<ClientEvents, 'ofOrder'> | undefined;
}

export function stepJson(step: StepOutcome): TimelineStepJson {
  return {
    name: step.name,
    status: step.status,
    duration_ms: step.durationMs,
    ...(step.threadId !== undefined ? { thread_id: step.threadId } : {}),
    ...(step.status === 'error' && step.kind !== undefined ? { detail: step.kind, kind: step.kind } : {}),
    ...(step.status === 'canceled' ? { detail: `canceled: ${step.cause}`, cause: step.cause } : {}),
    ...(step.threadFate ? { thread_fate: step.threadFate } : {}),
    ...(step.attempts > 1 ? { attempts: step.attempts } : {}),
    ...(step.retries ? { retries: step.retries } : {}),
    ...(step.effect ? { effect: step.effect } : {}),
    ...(step.dependency ? { dependency: step.dependency } : {}),
  };
}

/** Why the latest run failed: its kind, and the step that failed first, if one did. */
function failureOf(record: OrderRecord): OrderTimelineJson['failure'] {
  const kind = record.outcome?.kind;
  if (kind === undefined || kind === 'ok') return null;
  const failed = record.outcome?.replay?.steps.find((step) => step.status === 'error');
  return { kind, step: failed?.name ?? null, thread_id: failed?.threadId ?? null };
}

export function orderTimelineRoute(
  { records, ledger, events }: TimelineSources,
  responder: Responder,
): RequestHandler<{ orderId: string }> {
  return async (req, res) => {
    const { caller } = res.locals;
    const params = new URL(req.originalUrl, 'http://localhost').searchParams;
    for (const name of params.keys())
      if (name !== 'client') return responder.error(res, 'bad_request', `unknown query parameter "${name}"`);
    const named = params.get('client');
    if (named !== null && !CLIENT_NAME.test(named))
      return responder.error(res, 'bad_request', 'client is not a client name');
    if (named !== null && !caller.admin && named !== caller.client)
      return responder.error(res, 'forbidden', "a client's key reads its own orders only: leave client out");
    const client = named ?? caller.client;
    const { orderId } = req.params;
    const key = orderKey(client, orderId);
    const record = await records.get(key);
    if (!record) return responder.error(res, 'not_found', `no record of order ${orderId}`);
    const [money, kept] = await Promise.all([ledger.moneyOf(key), events?.ofOrder(client, orderId) ?? []]);
    const replay = record.outcome?.replay;
    const body: OrderTimelineJson = {
      order_id: orderId,
      client,
      state: record.state,
      outcome: outcomeJson(record.outcome?.kind),
      runs: record.runs,
      ...(record.tier ? { tier: record.tier } : {}),
      payment: { charged: money?.charged ?? 0, refunded: money?.refunded ?? 0 },
      failure: failureOf(record),
      steps: replay?.steps.map(stepJson) ?? [],
      compensations: replay?.compensations.map(stepJson) ?? [],
      events: kept.map(({ event, run, traceId, deliveries }) => ({
        ...event,
        run,
        trace_id: traceId ?? null,
        deliveries:
          deliveries?.map((delivery) => ({
            endpoint_id: delivery.endpointId,
            failures: delivery.failures,
            first_attempt_at: delivery.firstAttemptAt?.toISOString() ?? null,
            done_at: delivery.doneAt?.toISOString() ?? null,
            outcome: delivery.outcome ?? null,
          })) ?? null,
      })),
    };
    responder.json(res, 200, body, NO_STORE);
  };
}
