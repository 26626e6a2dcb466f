/**
 * The OpenAPI description of what a client is told after the fact: its
 * webhook endpoints, the event feed, the admin's redelivery, and the webhooks
 * themselves (the document's `webhooks` section).
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { FEED_LIMIT_DEFAULT, FEED_LIMIT_MAX } from '../../events/client-events.js';
import { CURSOR_MAX_LENGTH, CURSOR_PREFIX } from '../../events/feed-cursor.js';
import { EVENT_TYPES, type EventType } from '../../events/order-event.js';
import {
  createdWebhookSchema,
  eventPageSchema,
  eventSchema,
  redeliverySchema,
  webhookListSchema,
} from '../wire/api-schemas.js';
import { MAX_BODY_BYTES } from '../wire/body-reader.js';
import { webhookBodySchema } from '../routes/webhooks-route.js';
import {
  ALLOW,
  changeRefused,
  error,
  FORBIDDEN,
  json,
  keylessLimited,
  LATE_READ,
  misdirected,
  RETRY_AFTER,
  unauthorized,
  webhookChangeLimited,
  type Keyed,
} from './shared.js';

/** What each event type says, for the document's `webhooks` section (docs/api.md says the same). */
const EVENT_TYPE_DESCRIPTIONS: Readonly<Record<EventType, string>> = {
  'order.succeeded': 'An order run succeeded (its answer was 200).',
  'order.failed':
    'An order run failed: declined, a dependency unavailable, a timeout, a lost thread, a crash… outcome.kind says which. Its refund, if money went back, follows as payment.refunded; if the refund was refused, payment.refund_failed.',
  'order.interrupted':
    'Durable mode: the run’s instance was lost (or lost Postgres) while it ran; recovery voided its payment and recorded it interrupted. A retry runs it afresh.',
  'order.dead_lettered':
    'Durable mode: the order’s instances were lost more than ORDER_RECOVERIES_MAX times while it ran; recovery parked it: its payment voided, recorded dead_lettered (final, replayed so to a retry), with an alarm for a person.',
  'order.canceled':
    'The order was canceled on request (POST /orders/{order_id}/cancel) and ended canceled; what it had charged was refunded (payment.refunded follows when money went back).',
  'payment.refunded':
    "Money a failed or interrupted run had charged went back: with the outcome's events, or later, when the background voider got the refund through — always after the order's own event.",
  'payment.refund_failed':
    'The refund of a failed run was refused: the money stays taken and a person must look (the service logs an error line too).',
};

const WEBHOOK_HEADERS = z.object({
  'webhook-id': z.string().meta({ description: "The event's id: the same on every attempt (deduplicate on it)." }),
  'webhook-timestamp': z.string().meta({ description: "This attempt's time, in seconds since the epoch." }),
  'webhook-signature': z.string().meta({
    description:
      "`v1,` and the base64 of HMAC-SHA256, keyed with the endpoint's secret (after `whsec_`, base64-decoded), over `webhook-id.webhook-timestamp.body`; Standard Webhooks (standardwebhooks.com).",
  }),
});

/**
 * An events path's 503s; `reads`: what it reads goes through the reads' own share of Postgres; `get`: a read, refused
 * while the main thread runs late.
 */
const unavailable = (reads: boolean, get = false) =>
  error(
    `Too many connections are open (overloaded, with Retry-After), ${get ? `${LATE_READ}, ` : ''}or the server is shutting down (shutting_down, with Retry-After). With DATABASE_URL also: ${reads ? "too many reads wait for the reads' own connections to Postgres (DB_READS_WAITING_MAX, DB_READ_WAIT_MS: overloaded, with Retry-After), or " : ''}Postgres cannot be reached (store_unavailable, with Retry-After).`,
    RETRY_AFTER,
  );

/** The event feed, the webhook endpoints, the redelivery, and the webhooks themselves. */
export function registerEvents(registry: OpenAPIRegistry, keyed: Keyed): void {
  registerWebhookEndpoints(registry, keyed);
  registerEventFeed(registry, keyed);
  registerWebhooks(registry);
}

/** POST and GET /webhooks, DELETE /webhooks/{id}. */
function registerWebhookEndpoints(registry: OpenAPIRegistry, keyed: Keyed): void {
  const webhookId = z.object({
    id: z.string().meta({ description: 'The endpoint id POST /webhooks answered.' }),
  });
  registry.registerPath({
    method: 'post',
    path: '/webhooks',
    operationId: 'createWebhook',
    tags: ['events'],
    security: keyed,
    summary: "Register a webhook endpoint: the caller's events are POSTed to it, signed (Standard Webhooks).",
    description:
      "The answer's secret (whsec_…) verifies each delivery; it is shown here only. Each event is delivered at least once, with webhook-id its id: a 2xx answer is success; another status, no answer within WEBHOOK_TIMEOUT_MS or a refused connection is retried with exponential backoff and jitter (the first retry within 10 s, for about 3 days); 410 Gone disables the endpoint, and so does a whole retry window of failures. An order's events arrive in the order they happened. The URL must be https and resolve to a public address (checked now and at every delivery) unless WEBHOOK_ALLOW_PRIVATE_TARGETS=on.",
    request: {
      body: { description: 'One JSON object.', required: true, content: json(webhookBodySchema) },
    },
    responses: {
      201: { description: 'Registered.', content: json(createdWebhookSchema) },
      400: error(
        'The URL is not a URL, not https, does not resolve, or resolves to an address webhooks may not reach; or the body is not this shape (kind bad_request).',
      ),
      401: unauthorized,
      403: changeRefused(),
      429: webhookChangeLimited,
      405: error('Only GET, HEAD and POST.', ALLOW),
      409: error('The client has WEBHOOKS_PER_CLIENT endpoints already (kind too_many_webhooks).'),
      413: error(`The body is over ${MAX_BODY_BYTES} bytes.`),
      415: error('The body is not application/json in UTF-8.'),
      421: misdirected,
      503: unavailable(true),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/webhooks',
    operationId: 'listWebhooks',
    tags: ['events'],
    security: keyed,
    summary: "The caller's webhook endpoints, without their secrets.",
    responses: {
      200: { description: 'Oldest first.', content: json(webhookListSchema) },
      401: unauthorized,
      429: keylessLimited,
      405: error('Only GET, HEAD and POST.', ALLOW),
      421: misdirected,
      503: unavailable(true, true),
    },
  });
  registry.registerPath({
    method: 'delete',
    path: '/webhooks/{id}',
    operationId: 'deleteWebhook',
    tags: ['events'],
    security: keyed,
    summary: 'Remove one of the caller’s webhook endpoints: nothing more is sent to it.',
    request: { params: webhookId },
    responses: {
      204: { description: 'Removed.' },
      401: unauthorized,
      403: changeRefused(),
      429: webhookChangeLimited,
      404: error("No endpoint by that id among the caller's own (kind not_found)."),
      405: error('Only DELETE.', ALLOW),
      421: misdirected,
      503: unavailable(false),
    },
  });
}

/** GET /events, and the admin's redelivery of one. */
function registerEventFeed(registry: OpenAPIRegistry, keyed: Keyed): void {
  registry.registerPath({
    method: 'get',
    path: '/events',
    operationId: 'listEvents',
    tags: ['events'],
    security: keyed,
    summary: "The caller's events, oldest first, a page at a time: how a client that was down catches up.",
    description:
      "Send the `next` of a page as `after` for the following one: no event is skipped or repeated. In memory the service keeps EVENTS_MAX events while it lives, shared by the clients (past it, an event goes from the client keeping the most per unit of its weight: a client's flood takes only its own history); in the durable mode, at least EVENT_RETENTION_DAYS. A cursor behind events no longer kept is never answered with a page that skips them: 410 `events_gone`, with the cursor that reads what is kept.",
    request: {
      query: z.object({
        after: z
          .string()
          .regex(new RegExp(`^${CURSOR_PREFIX.replaceAll('.', '\\.')}`))
          .max(CURSOR_MAX_LENGTH)
          .optional()
          .meta({
            description: `A \`next\` cursor this client was given (it begins ${CURSOR_PREFIX}); absent: from the oldest kept. An empty one is refused, as any cursor the service did not give.`,
          }),
        limit: z
          .int()
          .min(1)
          .max(FEED_LIMIT_MAX)
          .optional()
          .meta({ description: `Events per page, ${FEED_LIMIT_DEFAULT} by default.` }),
      }),
    },
    responses: {
      200: { description: 'A page.', content: json(eventPageSchema) },
      400: error(
        'after is a cursor of another client or none this service gave, limit is out of range, or the query names another parameter (kind bad_request).',
      ),
      401: unauthorized,
      429: keylessLimited,
      405: error('Only GET and HEAD.', ALLOW),
      410: error(
        "Some of the client's events after `after` are no longer kept (EVENTS_MAX, EVENT_RETENTION_DAYS, a restart in memory): a gap, never skipped silently (kind events_gone). The body's `next` reads what is kept, from its oldest event; GET /orders/{order_id} tells what became of the orders in the gap.",
      ),
      421: misdirected,
      503: unavailable(true, true),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/admin/events/{id}/redeliver',
    operationId: 'redeliverEvent',
    tags: ['admin'],
    security: keyed,
    summary: 'Send one event again to every enabled endpoint of its client, with its own webhook-id.',
    request: { params: z.object({ id: z.string().meta({ description: "The event's id (evt_…)." }) }) },
    responses: {
      202: { description: 'Queued.', content: json(redeliverySchema) },
      401: unauthorized,
      429: keylessLimited,
      403: changeRefused(FORBIDDEN),
      404: error('No such event is kept (kind not_found).'),
      405: error('Only POST.', ALLOW),
      421: misdirected,
      503: unavailable(true),
    },
  });
}

/** What each event type's POST to an endpoint carries. */
function registerWebhooks(registry: OpenAPIRegistry): void {
  for (const type of EVENT_TYPES) {
    registry.registerWebhook({
      method: 'post',
      path: type,
      operationId: `${type.replace(/[._](\w)/g, (_, letter: string) => letter.toUpperCase())}Event`,
      tags: ['events'],
      summary: EVENT_TYPE_DESCRIPTIONS[type],
      request: {
        headers: WEBHOOK_HEADERS,
        body: { description: `An event of type ${type}.`, required: true, content: json(eventSchema) },
      },
      responses: {
        200: { description: 'Any 2xx: delivered.' },
        410: { description: 'Gone: the endpoint is disabled, nothing more is sent to it.' },
      },
    });
  }
}
