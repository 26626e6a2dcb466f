/**
 * The shapes of every response, as zod schemas: the one source for the
 * OpenAPI document (src/http/openapi/openapi.ts) and for the types the responses are
 * built with (src/http/wire/responses.ts), so the two cannot drift apart.
 */
import { z } from 'zod';
import { DEPENDENCY_NAMES } from '../../domain/dependencies.js';
import { EVENT_TYPES } from '../../events/order-event.js';
import { ACTION_NAMES } from '../../domain/order.js';
import { TIERS } from '../../domain/tier.js';
import { LIFECYCLE_STATES } from '../../domain/lifecycle.js';
import type { ErrorKind } from '../../domain/errors.js';
import { STATUS_BY_KIND } from './error-status.js';

/** Every kind there is: the status table is total, so it lists them all. */
const ERROR_KINDS = Object.keys(STATUS_BY_KIND) as [ErrorKind, ...ErrorKind[]];

export const errorSchema = z
  .strictObject({
    kind: z.enum(ERROR_KINDS).meta({ description: 'Stable name of what went wrong.' }),
    message: z.string().meta({ description: 'For people; never a stack trace or an internal detail.' }),
  })
  .meta({ id: 'Error' });

export const errorResponseSchema = z
  .strictObject({
    status: z.literal('error'),
    error: errorSchema,
    next: z.string().optional().meta({
      description:
        'events_gone only (GET /events, 410): the cursor that reads what is kept of the feed, from its oldest event.',
    }),
    lifecycle: z.enum(LIFECYCLE_STATES).optional().meta({
      description: 'order_ended only: where the order is in its life (as GET /orders/{order_id} says).',
    }),
  })
  .meta({ id: 'ErrorResponse', description: 'Any request that is not answered with an order outcome.' });

export const stepSchema = z
  .strictObject({
    name: z.enum(ACTION_NAMES),
    status: z.enum(['ok', 'error', 'canceled']),
    duration_ms: z
      .int()
      .min(0)
      .meta({ description: 'From dispatch to the end of the step, waiting for a thread or a courier included.' }),
    thread_id: z
      .int()
      .min(1)
      .optional()
      .meta({ description: 'The worker thread that ran the step; absent if it never reached one.' }),
    detail: z
      .string()
      .optional()
      .meta({ description: 'The kind of an error; "canceled: <kind>" for a canceled step.' }),
    thread_fate: z.enum(['terminated', 'died']).optional().meta({ description: 'The thread was lost under the step.' }),
    attempts: z
      .int()
      .min(2)
      .optional()
      .meta({ description: 'Runs of the step, when its thread died and it ran again on another.' }),
    retries: z.int().min(1).optional().meta({
      description:
        'Calls the step made again to its remote service after it answered unavailable (a partial outage), each after a decorrelated-jitter backoff (STEP_RETRIES).',
    }),
  })
  .meta({ id: 'Step' });

const orderSteps = z.array(stepSchema).meta({ description: 'payment, vendor, courier, in that order.' });

/** Two shapes, each with its status a constant: a generated client types a success and a failure apart. */
export const orderSucceededSchema = z
  .strictObject({ status: z.literal('ok'), order_id: z.string(), steps: orderSteps })
  .meta({ id: 'OrderSucceeded', description: 'An order whose every step succeeded.' });

/** The answer to an order accepted now and answered later (Prefer: respond-async, or wait=N passed). */
export const orderAcceptedSchema = z
  .strictObject({
    status: z.literal('accepted'),
    order_id: z.string(),
    lifecycle: z.literal('accepted').meta({
      description: 'The order is taken and runs on (docs/design.md, the life of an order); its end is told later.',
    }),
  })
  .meta({
    id: 'OrderAccepted',
    description:
      'The order runs on, whether the client stays connected or not: GET the Location, read the feed, or receive the webhook for its end.',
  });
export type OrderAcceptedJson = z.infer<typeof orderAcceptedSchema>;

export const orderFailedSchema = z
  .strictObject({
    status: z.literal('error'),
    order_id: z.string(),
    steps: orderSteps,
    compensations: z.array(stepSchema).optional().meta({
      description:
        'Steps undone because the order failed: a refund of a payment that went through. Absent when there was nothing to undo.',
    }),
    error: errorSchema,
  })
  .meta({ id: 'OrderFailed', description: 'An order that failed, every step included, and the kind it failed with.' });

/** The outcome of an order, either way. */
export const orderResponseSchema = z.union([orderSucceededSchema, orderFailedSchema]);

export const orderStatusSchema = z
  .strictObject({
    order_id: z.string(),
    state: z.enum(['running', 'done']),
    outcome: z
      .strictObject({
        http_status: z
          .int()
          .meta({ description: 'The status the latest run was answered with (499: every caller had gone).' }),
        kind: z.enum(['ok', ...ERROR_KINDS]).meta({ description: '"ok", or the kind the latest run failed with.' }),
      })
      .nullable()
      .meta({ description: "The latest run's final answer; null while it runs." }),
    runs: z.int().min(1).meta({
      description:
        'Runs of this order_id: a retry after an outcome that is not replayed (a timeout, a client that left) is a new run.',
    }),
    payment: z
      .strictObject({
        charged: z.int().min(0),
        refunded: z.int().min(0),
      })
      .meta({
        description: "The payment provider's books for this order, totals over every run, in the order's unit.",
      }),
    tier: z.enum(TIERS).optional().meta({
      description:
        "The priority tier the latest run ran at: its client's (CLIENT_TIERS, or its key's), or lower if the request asked (Order-Tier).",
    }),
    lifecycle: z.enum(LIFECYCLE_STATES).meta({
      description:
        'Where the order is in its life (docs/design.md, the life of an order): running — resumed while a run taken over from a lost instance runs on (durable mode: forward recovery) — or how its latest run ended: succeeded, failed, canceled, interrupted, or dead_lettered (durable mode: parked after more than ORDER_RECOVERIES_MAX takeovers, until the admin redrives it). `state` says running or done, as before. accepted is a 202’s word only.',
    }),
  })
  .meta({ id: 'OrderStatus', description: 'What the service and the payment provider know of an order.' });

export const breakerSchema = z
  .strictObject({
    state: z.enum(['closed', 'open', 'half_open']).meta({
      description:
        'closed: orders go through; open: new orders are refused at once (503 with the dependency’s kind); half_open: one probe order goes through, the others are refused.',
    }),
    consecutive_failures: z.int().min(0).meta({
      description: 'Failures of the dependency in a row, counted while closed (BREAKER_FAILURES of them open it).',
    }),
    open_until: z.string().nullable().meta({
      description:
        'While open: when it lets a probe order through (BREAKER_OPEN_MS after it opened), an ISO 8601 time in UTC; null otherwise.',
    }),
  })
  .meta({
    id: 'Breaker',
    description:
      "A dependency's circuit breaker. It counts only the dependency's own failures: unavailable answers, and steps cut by the deadline while waiting out its added latency.",
  });

export const dependencyStateSchema = z
  .strictObject({
    dependency: z.enum(DEPENDENCY_NAMES),
    title: z.string(),
    outage: z
      .strictObject({
        failure_ratio: z
          .number()
          .min(0)
          .max(1)
          .meta({ description: 'The share of calls answered unavailable; nothing reaches the service for those.' }),
        latency_ms: z.int().min(0).meta({ description: 'How much later than usual every call is answered.' }),
      })
      .nullable()
      .meta({ description: 'The simulated outage switched on, or null.' }),
    calls_refused: z.int().min(0).meta({ description: 'Calls the outages have answered unavailable since start.' }),
    breaker: breakerSchema.nullable().meta({ description: 'null with BREAKER_FAILURES=0 (no breakers).' }),
  })
  .meta({
    id: 'DependencyState',
    description:
      'A remote service the steps call: the payment provider (payment), the vendor (vendor), the courier service (courier).',
  });

export const dependenciesSchema = z
  .strictObject({ dependencies: z.array(dependencyStateSchema) })
  .meta({ id: 'Dependencies' });

export const healthReportSchema = z
  .strictObject({
    status: z.enum(['ok', 'draining']),
    running_steps: z
      .int()
      .min(0)
      .meta({ description: 'Steps running inside worker threads (the cross-thread tracker).' }),
    threads: z.int().min(0).meta({ description: 'Live worker threads.' }),
    queued: z.int().min(0).meta({ description: 'Steps dispatched but not yet started on a thread.' }),
    couriers_busy: z.int().min(0),
    couriers: z.int().min(1),
    orders_in_flight: z.int().min(0),
    threads_replaced: z.int().min(0).meta({ description: 'Threads terminated or crashed and replaced since start.' }),
    fault_injection: z.boolean().meta({
      description:
        'FAULT_INJECTION=on: orders sent with the admin key may carry faults that crash, hang or exhaust threads. Never on in production.',
    }),
    access: z.enum(['open', 'keys']).meta({
      description:
        'open: no API keys, every caller is the one anonymous client and the admin (loopback only, or ALLOW_ANONYMOUS=on); keys: callers need an API key.',
    }),
    durable: z
      .strictObject({
        instance_id: z
          .string()
          .nullable()
          .meta({ description: "This instance's identity while it holds its lease; null once it gave it up." }),
        store: z.enum(['up', 'down']).meta({ description: 'Whether Postgres answers.' }),
        lease: z.enum(['held', 'lost']),
        orders_running: z.int().min(0).meta({ description: 'Runs this instance has begun and not yet recorded.' }),
        couriers_held: z
          .int()
          .min(0)
          .meta({ description: 'Courier slots this instance holds, of the pool every instance shares.' }),
        orders_recovered: z
          .int()
          .min(0)
          .meta({ description: 'Orders of lost instances this instance took over since start.' }),
      })
      .optional()
      .meta({ description: 'With DATABASE_URL: what this instance holds of what the instances share.' }),
    per_thread: z
      .array(
        z.strictObject({
          thread_id: z.int().min(1),
          steps: z.int().min(0).meta({ description: 'Steps running on the thread (its share of the tracker).' }),
          utilization: z.number().min(0).max(1).meta({
            description: "The share of time the thread's event loop was busy, over the last half second or more.",
          }),
        }),
      )
      .meta({ description: 'Each live worker thread, by thread_id. The live view of the threads is GET /threads.' }),
    breakers: z
      .strictObject(
        Object.fromEntries(DEPENDENCY_NAMES.map((name) => [name, breakerSchema])) as Record<
          (typeof DEPENDENCY_NAMES)[number],
          typeof breakerSchema
        >,
      )
      .optional()
      .meta({ description: "Each dependency's circuit breaker; absent with BREAKER_FAILURES=0." }),
  })
  .meta({ id: 'Health' });

export const readinessSchema = z
  .strictObject({
    status: z.enum(['ready', 'draining', 'shedding', 'store_unavailable']),
    orders_in_flight: z.int().min(0),
    max_inflight: z.int().min(1),
  })
  .meta({ id: 'Readiness' });

export type ErrorResponse = z.infer<typeof errorResponseSchema>;
export type StepJson = z.infer<typeof stepSchema>;
export type OrderResponse = z.infer<typeof orderResponseSchema>;
export type OrderStatusJson = z.infer<typeof orderStatusSchema>;
export type HealthReport = Omit<z.infer<typeof healthReportSchema>, 'status'>;
export type Readiness = z.infer<typeof readinessSchema>;

export const versionSchema = z
  .object({
    version: z.string().meta({ description: "package.json's version." }),
    commit: z.string().nullable().meta({ description: 'The commit built (BUILD_COMMIT), or null when not known.' }),
    node: z.string().meta({ description: 'The Node version the server runs on.' }),
  })
  .meta({ id: 'Version' });
export type BreakerJson = z.infer<typeof breakerSchema>;
export type DependencyStateJson = z.infer<typeof dependencyStateSchema>;

const waterfallSpanSchema = z
  .strictObject({
    name: z.string().meta({ description: '`POST /order`, `step payment`, `wait for a thread`, `postgres charge`…' }),
    span_id: z.string(),
    parent_span_id: z.string().optional().meta({ description: "Absent for the request's own span." }),
    start_ms: z.number().meta({ description: "From the start of the request's span." }),
    duration_ms: z.number().min(0),
    thread_id: z.int().min(0).optional().meta({ description: 'The worker thread it ran on, if it ran on one.' }),
    status: z.enum(['ok', 'error', 'canceled']),
    detail: z.string().optional().meta({ description: 'The error kind, what canceled it, the fate of its thread.' }),
  })
  .meta({ id: 'WaterfallSpan' });

export const traceWaterfallSchema = z
  .strictObject({
    trace_id: z.string(),
    order_id: z.string(),
    duration_ms: z.number().min(0),
    spans: z.array(waterfallSpanSchema).meta({ description: 'Every span of the trace, by start.' }),
  })
  .meta({ id: 'TraceWaterfall', description: "One recent order's trace, as the live page draws it." });
export const eventSchema = z
  .strictObject({
    id: z.string().meta({
      description:
        "The event's id: the idempotency key of its delivery, sent as webhook-id, the same on every attempt.",
    }),
    type: z.enum(EVENT_TYPES).meta({ description: 'What happened (docs/api.md lists the types).' }),
    timestamp: z.string().meta({ description: 'When the fact was recorded (ISO 8601, UTC).' }),
    client: z.string().meta({ description: 'The client whose order it is: only it receives or reads the event.' }),
    data: z.strictObject({
      order_id: z.string(),
      outcome: z
        .strictObject({
          kind: z.enum(['ok', ...ERROR_KINDS]).meta({ description: '"ok", or the kind the run failed with.' }),
          http_status: z.int().meta({ description: 'The status its answer carries (GET /orders/{order_id} says it).' }),
        })
        .meta({ description: 'The outcome on record for the run the event is about.' }),
      payment: z.strictObject({ charged: z.int().min(0), refunded: z.int().min(0) }).meta({
        description: "The order's money over every run when the event was made, as GET /orders/{order_id} shows it.",
      }),
    }),
  })
  .meta({ id: 'Event' });

export const eventPageSchema = z
  .strictObject({
    events: z.array(eventSchema).meta({ description: "The caller's events after the cursor, oldest first." }),
    next: z.string().meta({ description: 'The cursor to send as `after` for the next page (opaque).' }),
    has_more: z.boolean().meta({ description: 'Whether more events follow at once.' }),
  })
  .meta({ id: 'EventPage' });

export const webhookSchema = z
  .strictObject({
    id: z.string(),
    url: z.string(),
    status: z.enum(['enabled', 'disabled']),
    disabled_reason: z
      .enum(['gone', 'failing'])
      .nullable()
      .meta({ description: 'gone: it answered 410; failing: every delivery failed for the whole retry window.' }),
    created_at: z.string(),
  })
  .meta({ id: 'Webhook' });

export const createdWebhookSchema = z
  .strictObject({
    id: z.string(),
    url: z.string(),
    secret: z.string().meta({
      description:
        'The Standard Webhooks signing secret (whsec_…): verify each delivery with it. Shown in this answer only.',
    }),
  })
  .meta({ id: 'CreatedWebhook' });

export const webhookListSchema = z.strictObject({ webhooks: z.array(webhookSchema) }).meta({ id: 'WebhookList' });

export const redeliverySchema = z
  .strictObject({
    event: eventSchema,
    deliveries: z
      .int()
      .min(0)
      .meta({ description: "Deliveries queued: one per enabled endpoint of the event's client." }),
  })
  .meta({ id: 'Redelivery' });

export type EventPageJson = z.infer<typeof eventPageSchema>;
export type WebhookJson = z.infer<typeof webhookSchema>;
