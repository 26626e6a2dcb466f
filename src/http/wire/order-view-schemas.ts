/**
 * The shapes of the operator's views of orders: the list (GET /orders) and
 * one order's timeline (GET /orders/{order_id}/timeline). Zod schemas, the
 * one source of the OpenAPI document and of the routes' types, as in
 * api-schemas.ts.
 */
import { z } from 'zod';
import { LIFECYCLE_STATES } from '../../domain/lifecycle.js';
import { TIERS } from '../../domain/tier.js';
import { ATTEMPT_OUTCOMES } from '../../orders/step-attempts.js';
import { eventSchema, orderStatusSchema, stepSchema } from './api-schemas.js';

const outcomeSchema = orderStatusSchema.shape.outcome;

export const listedOrderSchema = z
  .strictObject({
    order_id: z.string(),
    client: z.string().meta({ description: 'Whose order it is.' }),
    state: z.enum(['running', 'done']),
    outcome: outcomeSchema,
    runs: z.int().min(1),
    tier: z.enum(TIERS).optional(),
    lifecycle: z.enum(LIFECYCLE_STATES).meta({
      description:
        'Where it is in its life, as GET /orders/{order_id} says: canceled, interrupted and dead_lettered are listed as themselves, never as failed; resumed, a run taken over from a lost instance that runs on.',
    }),
    at: z.string().meta({
      description:
        'When its latest run began (with DATABASE_URL); in memory, when it began if it runs, else when it ended. ISO 8601, UTC: what since and until compare with.',
    }),
  })
  .meta({ id: 'ListedOrder' });

export const orderListSchema = z
  .strictObject({
    orders: z.array(listedOrderSchema).meta({ description: 'Newest first.' }),
    next: z.string().nullable().meta({
      description:
        'The cursor to send as `cursor` for the next page (opaque, given to this caller only); null when no order follows. A page may hold fewer orders than `limit` while more follow.',
    }),
  })
  .meta({ id: 'OrderList' });

export const timelineStepSchema = stepSchema
  .extend({
    kind: z.string().optional().meta({ description: 'Why the step failed (status error).' }),
    cause: z
      .string()
      .optional()
      .meta({ description: 'What canceled it (status canceled): the kind that ended the order.' }),
    effect: z.enum(['applied', 'refused']).optional().meta({
      description: 'What its remote service did with its request; absent if it sent none.',
    }),
    dependency: z.enum(['answered', 'failed']).optional().meta({
      description: 'Whether its remote service failed it (failed) or answered (answered); absent: nothing to say.',
    }),
  })
  .meta({ id: 'TimelineStep' });

export const timelineEventSchema = eventSchema
  .extend({
    run: z.int().min(1).meta({ description: 'The run it reports.' }),
    trace_id: z
      .string()
      .nullable()
      .meta({ description: 'The trace of the request that recorded it (with tracing on).' }),
    deliveries: z
      .array(
        z.strictObject({
          endpoint_id: z.string(),
          failures: z.int().min(0).meta({ description: 'Attempts that failed so far.' }),
          first_attempt_at: z.string().nullable(),
          done_at: z.string().nullable().meta({ description: 'When it was delivered or given up; null while owed.' }),
          outcome: z.string().nullable().meta({
            description: 'delivered, or why it was given up (failed, gone, dropped); null while it is owed.',
          }),
        }),
      )
      .nullable()
      .meta({
        description:
          'Its delivery to each webhook endpoint it was owed to (with DATABASE_URL); null in memory, where a delivery is forgotten once done.',
      }),
  })
  .meta({ id: 'TimelineEvent' });

export const stepAttemptSchema = z
  .strictObject({
    step: z.string(),
    run: z.int().min(1).meta({ description: 'The run it ran in, as the events name it.' }),
    takeovers: z.int().min(0).meta({
      description:
        'How many times its run had been taken over from a lost instance when it ended: 0 on the instance that began the run, 1 after one takeover (it ran again there).',
    }),
    thread_id: z.int().nullable().meta({
      description: 'The worker thread it ran on; null if it reached none, or if it is not known (lost).',
    }),
    instance_id: z.string().meta({ description: 'The instance that ran it (its GET /healthz `durable.instance_id`).' }),
    started_at: z.string().meta({ description: 'ISO 8601, UTC.' }),
    ended_at: z.string().meta({ description: 'ISO 8601, UTC.' }),
    outcome: z.enum(ATTEMPT_OUTCOMES).meta({
      description:
        "How it ended: ok, error or canceled, the step's own status (its last try); thread_died or thread_terminated, its worker thread was lost under it (it crashed or exited; the service terminated it) and the step ran again on another; lost, its instance was lost before its end was recorded — under way there, or ended unrecorded — recorded by the instance that took its run over, from the run's start to that takeover, its thread unknown.",
    }),
  })
  .meta({ id: 'StepAttempt' });

export const stepEffectSchema = z
  .strictObject({
    step: z.string(),
    run: z.int().min(1).meta({ description: 'The run it was sent for: with the order and the step, the key.' }),
    instance_id: z.string().nullable().meta({
      description: 'The instance that sent it (its GET /healthz `durable.instance_id` then); null if it held no claim.',
    }),
    fence: z.int().meta({
      description:
        "The claim's fence of the run it was sent under: 0 as the run began, raised by each takeover and hand-over.",
    }),
    answer: z.enum(['applied', 'duplicate', 'stale']).meta({
      description:
        "What the service did: applied, the step's effect, once per run and step; duplicate, the step again under the same key (its thread was lost, or it ran again after a takeover): nothing more happened; stale, sent under an older claim than one the service had seen (an instance whose run was taken over meanwhile): refused.",
    }),
    received_at: z.string().meta({ description: 'ISO 8601, UTC.' }),
  })
  .meta({ id: 'StepEffect' });

export const orderTimelineSchema = z
  .strictObject({
    order_id: z.string(),
    client: z.string(),
    state: z.enum(['running', 'done']),
    outcome: outcomeSchema,
    runs: z.int().min(1),
    tier: z.enum(TIERS).optional(),
    payment: orderStatusSchema.shape.payment,
    failure: z
      .strictObject({
        kind: z.string().meta({ description: 'The kind the latest run failed with.' }),
        step: z.string().nullable().meta({ description: 'The step that failed first; null if none did (a deadline).' }),
        thread_id: z.int().nullable().meta({ description: 'The worker thread it failed on, if it reached one.' }),
      })
      .nullable()
      .meta({ description: 'Why the latest run failed, from its recorded answer; null if it succeeded or runs.' }),
    steps: z.array(timelineStepSchema).meta({
      description:
        "The latest run's steps as its answer recorded them: one record per step, its last attempt's thread, its attempts (a step runs again after its thread dies) and its retries — an outcome a retry is not told again (timeout, an outage) keeps them too, to be shown here, never replayed; empty while it runs, or when nothing of its answer is kept (interrupted).",
    }),
    compensations: z.array(timelineStepSchema).meta({ description: 'What was undone: a refund of a payment.' }),
    events: z.array(timelineEventSchema).meta({ description: "The order's events still kept, oldest first." }),
    step_attempts: z.array(stepAttemptSchema).optional().meta({
      description:
        "With DATABASE_URL: each step's attempts, in every run of the order, oldest first — where it ran (instance, thread), when, how it ended, and whether after a takeover: each step's last try as recorded when it ended, its tries before it whose thread was lost, and, once a run's instance is lost, each of its steps whose end was not recorded (lost). A step's end is recorded only for an order sent with its own deadline_ms (the kind resumed after its instance is lost): the others show only their steps lost with their instance. Absent in memory, where no attempt is recorded.",
    }),
    step_effects: z.array(stepEffectSchema).optional().meta({
      description:
        'With DATABASE_URL: each request the services the vendor and courier steps act on received for the order, oldest first, as their books keep them. A step may run again after a takeover, and one that ran on two instances shows a request of each, its effect applied once. Absent in memory.',
    }),
    deadline_ms: z.int().min(1).meta({
      description:
        "The order's deadline, counted from when its run began: its own deadline_ms if it sent one, else the service's ORDER_TIMEOUT_MS.",
    }),
    run_started_at: z.string().optional().meta({
      description:
        'When its latest run began, where its deadline is counted from (ISO 8601, UTC; with DATABASE_URL). Absent in memory, where steps are timed from their dispatch, which follows the start at once.',
    }),
    canceled_by: z
      .strictObject({
        actor: z.string().meta({ description: "Who: the order's client (its own key), or admin." }),
        actor_key: z.string().optional().meta({
          description:
            "Which admin key, by its fingerprint (sha256: and 12 hex digits), never the key; absent for a client's key and in open mode.",
        }),
        at: z.string().meta({ description: 'When the cancel was asked (ISO 8601, UTC).' }),
      })
      .optional()
      .meta({
        description:
          'Who canceled the latest run, and when (POST /orders/{order_id}/cancel; the first to ask, if several did): while it winds down from the cancel, and once it ended canceled. Absent otherwise.',
      }),
    redrivable: z.boolean().meta({
      description:
        'Whether the admin’s redrive (POST /admin/orders/{order_id}/redrive) would send it on: with DATABASE_URL, an order that ended dead_lettered or failed by the infrastructure, that asked a deadline_ms of its own (only such an order keeps what it asked, to be run again) and whose money is settled (charged all refunded). A redrive may still be refused for want of room (503), to be asked again.',
    }),
  })
  .meta({ id: 'OrderTimeline', description: 'One order as the service recorded it: its steps, money and events.' });

export type ListedOrderJson = z.infer<typeof listedOrderSchema>;
export type OrderListJson = z.infer<typeof orderListSchema>;
export type TimelineStepJson = z.infer<typeof timelineStepSchema>;
export type StepAttemptJson = z.infer<typeof stepAttemptSchema>;
export type StepEffectJson = z.infer<typeof stepEffectSchema>;
export type OrderTimelineJson = z.infer<typeof orderTimelineSchema>;
