/**
 * The OpenAPI description of sending an order and reading it back: POST
 * /order and GET /orders/{order_id}.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { TIERS } from '../../domain/tier.js';
import { MAX_BODY_BYTES } from '../wire/body-reader.js';
import {
  errorResponseSchema,
  orderAcceptedSchema,
  orderFailedSchema,
  orderStatusSchema,
  orderSucceededSchema,
} from '../wire/api-schemas.js';
import { orderBodySchema } from '../wire/order-body.js';
import {
  ALLOW,
  changeRefused,
  error,
  json,
  keylessLimited,
  KEYLESS_LIMITED,
  misdirected,
  ORDER_TIER,
  orderFailure,
  RATE_LIMIT,
  REPLAYED,
  LATE_READ,
  POLL_AFTER,
  RETRY_AFTER,
  unauthorized,
  type Keyed,
} from './shared.js';
import { GET_ORDER_EXAMPLES } from './api-examples.js';
import { strongEtag } from '../wire/conditional.js';

const orderRequestSchema = orderBodySchema.meta({ id: 'OrderRequest' });

/** The ETag of the documented order (GET /orders/{order_id}'s 200 example), as the service tags it. */
const EXAMPLE_ETAG = strongEtag(JSON.stringify(GET_ORDER_EXAMPLES['200']!['done']!.value));

/** What a 200 or a 304 of GET /orders/{order_id} says of its caching: header components, named by both. */
const POLLED_HEADER_OBJECTS = {
  OrderETag: {
    description: 'Strong, of this answer’s body: send it back as If-None-Match to be told 304 while nothing changed.',
    required: true,
    schema: { type: 'string' as const },
    example: EXAMPLE_ETAG,
  },
  OrderCacheControl: {
    description:
      'private, no-cache: no shared cache may keep an order and its money; a client’s own may, and asks again every time (If-None-Match), so it never shows a state that has changed.',
    required: true,
    schema: { type: 'string' as const, const: 'private, no-cache' },
  },
};
const POLLED_HEADERS = {
  ETag: { $ref: '#/components/headers/OrderETag' },
  'Cache-Control': { $ref: '#/components/headers/OrderCacheControl' },
};

export function registerOrders(registry: OpenAPIRegistry, keyed: Keyed): void {
  registerCreateOrder(registry, keyed);
  registerGetOrder(registry, keyed);
}

function registerCreateOrder(registry: OpenAPIRegistry, keyed: Keyed): void {
  registry.registerPath({
    method: 'post',
    path: '/order',
    operationId: 'createOrder',
    tags: ['orders'],
    security: keyed,
    summary: 'Run an order: payment, vendor notification and courier assignment at once, each on a worker thread.',
    description:
      'The first failing step cancels the others; ORDER_TIMEOUT_MS cancels them all. The answer comes once every step has ended, and if the order failed and its payment may have been taken — it went through, or its charge had reached the provider when the step was canceled or its thread lost — once the payment is voided (compensations). A client that disconnects cancels its order and gets nothing. order_id is the idempotency key: a retry with the same order while it runs joins it, a retry after it ended gets the recorded outcome (header Idempotent-Replayed) for IDEMPOTENCY_TTL_MS — except a 504, a thread_lost, overloaded or shutting_down 503, or a run every caller left, which a retry runs afresh as a new run — and the same order_id with a different order is 422. Every response carries X-Request-Id, and traceresponse: the trace the order’s spans and log lines are in (the caller’s, from its traceparent).',
    request: {
      headers: z.object({
        'x-request-id': z
          .string()
          .optional()
          .meta({ description: 'Kept if it is 1-128 characters of A-Z a-z 0-9 . _ -; otherwise a fresh one is made' }),
        traceparent: z.string().optional().meta({
          description:
            "W3C Trace Context: the caller's trace and span. The order's spans continue that trace, its request span a child of the caller's span; without one (or an invalid one) a trace starts",
        }),
        tracestate: z
          .string()
          .optional()
          .meta({ description: "W3C Trace Context: the caller's vendor state, kept with its traceparent" }),
        prefer: z.string().optional().meta({
          description:
            'RFC 7240. respond-async: answered 202 (Location, Preference-Applied) as soon as the order is under way, its end heard later — GET the Location, the feed or the webhook; the order runs on whether the client stays or not. wait=N: answered as without the header if the order ends within N seconds, 202 otherwise; N seconds as long as the order’s deadline (deadline_ms, else ORDER_TIMEOUT_MS) or longer wait for its end, as without the header. respond-async, wait=N: the wait, then 202 (Preference-Applied: respond-async, wait=N). Without it, the answer is the end, and a client that leaves cancels its order. A retry of an order under way is answered the same way, joining the run: never a second run',
          example: 'respond-async, wait=1',
        }),
        'order-tier': z.enum(TIERS).optional().meta({
          description:
            "Run this order at a lower priority tier than the client's own (critical, standard, free): near capacity it is shed and served as that tier. A tier above the client's own is ignored, not refused: the order runs at the client's tier, and the answer's Order-Tier says so. Any other value is 400 bad_request",
        }),
      }),
      body: {
        description: `One JSON object, UTF-8, at most ${MAX_BODY_BYTES} bytes. No other field is allowed at any level.`,
        required: true,
        content: json(orderRequestSchema),
      },
    },
    responses: {
      200: {
        description: 'Every step succeeded.',
        content: json(orderSucceededSchema),
        headers: { ...REPLAYED, ...RATE_LIMIT, ...ORDER_TIER },
      },
      202: {
        description:
          'Prefer: respond-async (or wait=N, or both, N seconds passed): the order is under way and runs on; its end is told by GET /orders/{order_id} (Location), the feed and the webhook.',
        content: json(orderAcceptedSchema),
        headers: {
          Location: { description: 'GET /orders/{order_id} of the order.', schema: { type: 'string' } },
          ...POLL_AFTER,
          'Preference-Applied': {
            description: 'respond-async, wait=N, or both: what the request asked for that was honoured.',
            schema: { type: 'string' },
            example: 'respond-async, wait=1',
          },
          ...ORDER_TIER,
        },
      },
      400: {
        description:
          'The payment was declined (an order outcome), or the request was bad (kind bad_request: the message names the field).',
        content: { 'application/json': { schema: z.union([orderFailedSchema, errorResponseSchema]) } },
      },
      401: unauthorized,
      403: changeRefused('The order carries faults, which need the admin key (kind forbidden).'),
      405: error('Only POST.', ALLOW),
      413: error(`The body is over ${MAX_BODY_BYTES} bytes.`),
      421: misdirected,
      415: error('The body is not application/json in UTF-8.'),
      409: orderFailure(
        'The order was canceled while it ran (POST /orders/{order_id}/cancel; kind canceled): every step canceled, what it charged refunded. Final: replayed so to a retry.',
      ),
      422: error(
        'The order_id was used for a different order (kind idempotency_key_reuse); the first one is not disturbed.',
      ),
      429: error(
        "The client sent more orders in this second than its rate limit allows (kind rate_limited; CLIENT_RATE_LIMIT, by default 100 a second with keys, none in open mode): answered before the body is read, nothing started. Other clients' limits are their own. With INSTANCES=N the limit holds across the instances of a machine; machines sharing one Postgres each count on their own. " +
          KEYLESS_LIMITED,
        { ...RETRY_AFTER, ...RATE_LIMIT },
      ),
      500: orderFailure(
        'A step crashed or brought its thread down (kind internal; details are in the log only), or the order failed and its refund failed too (kind compensation_failed: needs a person).',
      ),
      503: {
        description:
          "A dependency's circuit breaker is open (or half-open with its probe order under way): answered at once, before any step started — nothing charged, nothing recorded — with that dependency's kind (payment_unavailable, vendor_unavailable, no_courier) and Retry-After (until the breaker lets an order through, at least 1 s). The payment provider, the vendor or the courier service was unavailable after the step's retries (payment_unavailable, vendor_unavailable, no_courier: not replayed, a retry runs afresh), or the vendor or courier step failed as the order asked (vendor_unavailable, no_courier), a step's thread was lost under it again and again through no fault of its own (thread_lost, with Retry-After: nothing of the order stands), too many orders are in flight or the order records are full (overloaded, with Retry-After; nothing was started), or the order's priority tier has reached its ceiling of the orders in flight, the worker pool's queue or the records' memory while a better tier is in play (TIER_CEILINGS: overloaded, with Retry-After, the message naming the tier; the rest is kept for the tiers above) — or, while several clients share the service, the client's own share of them is (CLIENT_MAX_SHARE of MAX_INFLIGHT, of ORDER_RECORDS_MAX_MB, and for orders with a deadline_ms beyond ORDER_TIMEOUT_MS its lasting floor of MAX_INFLIGHT: overloaded, with Retry-After, the message naming the share; other clients are not affected), or the event loop runs late and the client sent far more than its share of the requests of the last second (overloaded, with Retry-After, answered once a second has passed), or the server is shutting down (shutting_down, with Retry-After). With DATABASE_URL also: Postgres cannot be reached and nothing was started (store_unavailable, with Retry-After), or the order's instance was lost or lost Postgres while it ran — its payment voided, nothing of it stands (interrupted, with Retry-After), or Postgres went away while the order was being begun or its outcome recorded, and could not say what it kept (outcome_unknown, with Retry-After: a run begun so is taken over, resumed or voided; a retry with the same order_id gets the recorded outcome, waits for the run under way, or runs afresh if nothing of it stands).",
        headers: { ...RETRY_AFTER, ...ORDER_TIER },
        content: { 'application/json': { schema: z.union([orderFailedSchema, errorResponseSchema]) } },
      },
      504: orderFailure('ORDER_TIMEOUT_MS passed; every step was canceled.'),
    },
  });
}

function registerGetOrder(registry: OpenAPIRegistry, keyed: Keyed): void {
  for (const [name, header] of Object.entries(POLLED_HEADER_OBJECTS))
    registry.registerComponent('headers', name, header);
  registry.registerPath({
    method: 'get',
    path: '/orders/{order_id}',
    operationId: 'getOrder',
    tags: ['orders'],
    security: keyed,
    summary:
      'What the service and the payment provider know of an order: whether it runs, how its latest run was answered, and the money over all its runs.',
    description:
      'Kept while the order runs and IDEMPOTENCY_TTL_MS after it is done — never less while the service runs (past ORDER_RECORDS_MAX_MB new orders are shed instead). Once an order is done, a 200 leaves charged − refunded equal to its amount for each run answered 200, and every other answer leaves 0 — except compensation_failed (the provider refused the refund), which leaves the money taken and is logged for a person to follow up.',
    request: {
      params: z.object({
        order_id: z.string().meta({ description: 'The order_id the order was sent with (URL-encoded).' }),
      }),
      headers: z.object({
        'if-none-match': z.string().optional().meta({
          description:
            'The ETag of the answer the client has (one, several, or *): 304 while the order is as that answer says. Looked at whatever the request’s Cache-Control says (fetch() sends no-cache with it).',
          example: EXAMPLE_ETAG,
        }),
      }),
    },
    responses: {
      200: {
        description: 'The order, with a strong ETag of this answer: poll it with If-None-Match.',
        content: json(orderStatusSchema),
        headers: POLLED_HEADERS,
      },
      304: {
        description:
          'If-None-Match named the current ETag: the order is as the answer the client has says (no body; its ETag and Cache-Control again).',
        headers: POLLED_HEADERS,
      },
      400: error('The path is not well-formed percent-encoded UTF-8 (kind bad_request).'),
      401: unauthorized,
      429: keylessLimited,
      404: error(
        "No record of this order_id among the caller's own orders: never seen, forgotten, or another client's (kind not_found).",
      ),
      405: error('Only GET and HEAD.', ALLOW),
      421: misdirected,
      503: error(
        `Too many connections are open (overloaded, with Retry-After), ${LATE_READ}, the event loop runs late and the client sent far more than its share of the requests of the last second (overloaded, with Retry-After, answered once a second has passed), or the server is shutting down (shutting_down, with Retry-After). With DATABASE_URL also: too many reads wait for the reads' own connections to Postgres (DB_READS_WAITING_MAX, DB_READ_WAIT_MS: overloaded, with Retry-After — busy, never an outage), or Postgres cannot be reached (store_unavailable, with Retry-After).`,
        RETRY_AFTER,
      ),
    },
  });
}
