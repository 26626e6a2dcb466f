/**
 * GET /orders/{order_id}/timeline: one order as the service recorded it —
 * its latest run's steps (each with the thread of its last attempt, its
 * attempts after a thread died, its retries), what was undone, why it
 * failed, who canceled it and when, its money, its events and its deadline — and, where the store
 * records them, each step's attempts (instance, thread, times, and the
 * tries a thread's or an instance's loss cut), for the console to draw.
 * The same rules as GET /orders/{id}: the caller's own orders, another's as
 * unknown as one never sent (404); the admin reads any client's with
 * client=, which a client may not name but itself (403).
 */
import type { RequestHandler } from 'express';
import { CLIENT_NAME } from '../../auth/caller.js';
import { REDRIVABLE_OUTCOMES } from '../../domain/lifecycle.js';
import { orderKey } from '../../domain/order.js';
import type { ClientEvents } from '../../events/client-events.js';
import type { PaymentLedger } from '../../ledger/payment-ledger.js';
import type { ReceivedEffect, ServiceBooks } from '../../ledger/service-books.js';
import type { CancelRequest, OrderRecord, OrderRecords } from '../../orders/order-records.js';
import type { StepAttempt, StepAttempts } from '../../orders/step-attempts.js';
import type { OrderResult } from '../../pipeline/order-pipeline.js';
import type { StepOutcome } from '../../pipeline/steps.js';
import { outcomeJson } from './order-status-route.js';
import type {
  OrderTimelineJson,
  StepAttemptJson,
  StepEffectJson,
  TimelineStepJson,
} from '../wire/order-view-schemas.js';
import { NO_STORE, type Responder } from '../wire/responses.js';

export interface TimelineSources {
  readonly records: Pick<OrderRecords, 'get'>;
  readonly ledger: Pick<PaymentLedger, 'moneyOf'>;
  /** Undefined where the store keeps no events. */
  readonly events: Pick<ClientEvents, 'ofOrder'> | undefined;
  /** Absent where no step's attempt is recorded (in memory). */
  readonly attempts?: StepAttempts;
  /** The books of the services steps act on; absent where they are not kept past a run (in memory). */
  readonly effects?: Pick<ServiceBooks, 'receivedFor'>;
  /** The deadline of an order that sent none (ORDER_TIMEOUT_MS). */
  readonly orderTimeoutMs: number;
  /** Whether the store keeps what the admin's redrive needs. */
  readonly redrives: boolean;
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

const attemptJson = (attempt: StepAttempt): StepAttemptJson => ({
  step: attempt.step,
  run: attempt.run,
  takeovers: attempt.takeovers,
  thread_id: attempt.threadId ?? null,
  instance_id: attempt.instance,
  started_at: attempt.startedAt.toISOString(),
  ended_at: attempt.endedAt.toISOString(),
  outcome: attempt.outcome,
});

const effectJson = (received: ReceivedEffect): StepEffectJson => ({
  step: received.step,
  run: received.run,
  instance_id: received.instance ?? null,
  fence: received.fence,
  answer: received.answer,
  received_at: received.at.toISOString(),
});

const redrivableKinds: ReadonlySet<string> = new Set(REDRIVABLE_OUTCOMES);

const canceledByJson = ({ actor, actorKey, at }: CancelRequest): OrderTimelineJson['canceled_by'] => ({
  actor,
  ...(actorKey === undefined ? {} : { actor_key: actorKey }),
  at: new Date(at).toISOString(),
});

/** The latest run's answer: replayed to a retry, or, not being final (a timeout's), kept to be shown. */
const answerOf = (record: OrderRecord): OrderResult | undefined => record.outcome?.replay ?? record.outcome?.answered;

/** Why the latest run failed: its kind, and the step that failed first, if one did. */
function failureOf(record: OrderRecord): OrderTimelineJson['failure'] {
  const kind = record.outcome?.kind;
  if (kind === undefined || kind === 'ok') return null;
  const failed = answerOf(record)?.steps.find((step) => step.status === 'error');
  return { kind, step: failed?.name ?? null, thread_id: failed?.threadId ?? null };
}

export function orderTimelineRoute(
  { records, ledger, events, attempts, effects, orderTimeoutMs, redrives }: TimelineSources,
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
    const [money, kept, recorded, received] = await Promise.all([
      ledger.moneyOf(key),
      events?.ofOrder(client, orderId) ?? [],
      attempts?.of(key),
      effects?.receivedFor(key),
    ]);
    const answer = answerOf(record);
    const ownDeadlineMs = recorded?.ownDeadlineMs ?? record.ownDeadlineMs;
    const body: OrderTimelineJson = {
      order_id: orderId,
      client,
      state: record.state,
      outcome: outcomeJson(record.outcome?.kind),
      runs: record.runs,
      ...(record.tier ? { tier: record.tier } : {}),
      payment: { charged: money?.charged ?? 0, refunded: money?.refunded ?? 0 },
      failure: failureOf(record),
      steps: answer?.steps.map(stepJson) ?? [],
      compensations: answer?.compensations.map(stepJson) ?? [],
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
      ...(attempts ? { step_attempts: recorded?.attempts.map(attemptJson) ?? [] } : {}),
      ...(received ? { step_effects: received.map(effectJson) } : {}),
      deadline_ms: ownDeadlineMs ?? orderTimeoutMs,
      ...(recorded ? { run_started_at: recorded.runStartedAt.toISOString() } : {}),
      ...(record.canceled ? { canceled_by: canceledByJson(record.canceled) } : {}),
      // What the redrive asks, so that the console offers it only where it sends the order on: ended by the
      // infrastructure, what it asked kept (only an order of its own deadline is), and its money settled.
      redrivable:
        redrives &&
        record.state === 'done' &&
        redrivableKinds.has(record.outcome?.kind ?? 'ok') &&
        ownDeadlineMs !== undefined &&
        (money?.charged ?? 0) === (money?.refunded ?? 0),
    };
    responder.json(res, 200, body, NO_STORE);
  };
}
