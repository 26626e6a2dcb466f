/**
 * The OpenAPI 3.1 description of the whole HTTP API, generated from the zod
 * schemas the service itself decodes requests with and builds responses
 * from: one source, so the document cannot say something the code does not.
 * docs/openapi.yaml is this document, written by `npm run openapi`, with
 * the default address as its server; /openapi.json serves it with the
 * address the server really listens on. Its version is the service's.
 */
import { TIERS } from '../domain/tier.js';
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { SERVICE_VERSION } from '../version.js';
import {
  createdWebhookSchema,
  eventPageSchema,
  eventSchema,
  redeliverySchema,
  webhookListSchema,
  dependenciesSchema,
  traceWaterfallSchema,
  dependencyStateSchema,
  errorResponseSchema,
  healthReportSchema,
  orderAcceptedSchema,
  orderFailedSchema,
  orderStatusSchema,
  orderSucceededSchema,
  readinessSchema,
  versionSchema,
} from './api-schemas.js';
import { dependencyOutageBodySchema } from './dependencies-route.js';
import { logLevelBodySchema, logLevelSchema } from './log-level-route.js';
import { EVENT_TYPES, type EventType } from '../events/order-event.js';
import { FEED_LIMIT_DEFAULT, FEED_LIMIT_MAX } from '../events/client-events.js';
import { CURSOR_MAX_LENGTH, CURSOR_PREFIX } from '../events/feed-cursor.js';
import { webhookBodySchema } from './webhooks-route.js';
import { registerOrderViews, type SharedResponses } from './openapi-order-views.js';
import { MAX_BODY_BYTES } from './order-route.js';
import { orderBodySchema } from './order-body.js';
import { PROBLEM_JSON, problem, problemSchema } from './problem-details.js';
import {
  CREATE_ORDER_EXAMPLES,
  GET_ORDER_EXAMPLES,
  ORDER_REQUEST_EXAMPLES,
  PROBE_EXAMPLES,
  type Example,
  type OrderAnswer,
} from './api-examples.js';

type Document = ReturnType<OpenApiGeneratorV31['generateDocument']>;

const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });
const error = (description: string, headers?: Record<string, { description: string; schema: { type: 'string' } }>) => ({
  description,
  content: { ...json(errorResponseSchema), [PROBLEM_JSON]: { schema: problemSchema } },
  ...(headers ? { headers } : {}),
});
const orderFailure = (description: string) => ({ description, content: json(orderFailedSchema) });
const RETRY_AFTER = {
  'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'string' as const } },
};
const RATE_LIMIT = {
  'RateLimit-Policy': {
    description:
      'The client\'s rate limit (draft-ietf-httpapi-ratelimit-headers): `"orders";q=100;w=1` — 100 orders a window of 1 s (CLIENT_RATE_LIMIT, CLIENT_RATE_LIMITS). On every POST /order of a client with a limit.',
    schema: { type: 'string' as const },
  },
  RateLimit: {
    description:
      'What is left of it: `"orders";r=42;t=1` — 42 more orders in this window, which ends within 1 s. On every POST /order of a client with a limit.',
    schema: { type: 'string' as const },
  },
};
const ORDER_TIER = {
  'Order-Tier': {
    description:
      "The priority tier the order ran at (critical, standard, free): its client's (CLIENT_TIERS, or its key's), or the lower one its request's Order-Tier asked for. On every answer to an order that was decoded.",
    schema: { type: 'string' as const, enum: [...TIERS] },
  },
};
const ALLOW = { Allow: { description: 'The methods the path accepts.', schema: { type: 'string' as const } } };
const REPLAYED = {
  'Idempotent-Replayed': {
    description:
      'Present ("true") when the answer is the recorded outcome of an earlier request with the same order_id and order: nothing ran again.',
    schema: { type: 'string' as const },
  },
};

const CHALLENGE = {
  'WWW-Authenticate': {
    description:
      'The schemes to authenticate with, each in a header of its own: `Bearer realm="order-threads"`, then `Basic realm="order-threads", charset="UTF-8"` (for a browser: the admin key as the password).',
    schema: { type: 'string' as const },
  },
};
const unauthorized = error(
  'No API key, or one that was never issued or has been revoked (kind unauthorized).',
  CHALLENGE,
);
/** What a request no key identifies gets past its address's rate (src/http/unauthenticated-meter.ts). */
const KEYLESS_LIMITED =
  'Without a valid API key, past 100 requests a second from one address (kind rate_limited): answered once that second is over, with Retry-After; the probes are never limited.';
const keylessLimited = error(KEYLESS_LIMITED, RETRY_AFTER);
const webhookChangeLimited = error(
  `The client created or deleted 100 webhook endpoints this minute already (kind rate_limited): nothing was changed; retry after Retry-After. ${KEYLESS_LIMITED}`,
  RETRY_AFTER,
);
const misdirected = error(
  'The Host header names a host this service does not answer for (kind misdirected_request): see ALLOWED_HOSTS.',
);
/**
 * Who the document says may call what (every operation but the probes and
 * this document): `keys` — a client's key (or the admin's for the admin
 * surface), by Bearer or as HTTP Basic's password; `open` — nobody needs one
 * (no keys configured, loopback only); `either` — docs/openapi.yaml, which
 * does not know how the service will be started: a key, or none (`{}`) in
 * open mode.
 */
export type DocumentedAccess = 'keys' | 'open' | 'either';
const SECURITY: Record<DocumentedAccess, Array<Record<string, string[]>>> = {
  keys: [{ bearer: [] }, { basic: [] }],
  open: [],
  either: [{ bearer: [] }, { basic: [] }, {}],
};
const forbidden = error("A client's key where the admin key is needed (kind forbidden).");

const orderRequestSchema = orderBodySchema.meta({ id: 'OrderRequest' });
const documents = new Map<DocumentedAccess, Document>();

/** The server docs/openapi.yaml names: the default HOST and PORT. */
export const DOCUMENTED_SERVER = 'http://127.0.0.1:8080';

/**
 * The document, naming `serverUrl` as its server (by default the documented
 * one) and the credentials `access` needs (by default both: docs/openapi.yaml).
 * Built once per access: the schemas it is made of do not change while the
 * service runs.
 */
export function openApiDocument({
  serverUrl = DOCUMENTED_SERVER,
  access = 'either',
}: { serverUrl?: string; access?: DocumentedAccess } = {}): Document {
  let document = documents.get(access);
  if (!document) {
    document = completed(buildDocument(access));
    documents.set(access, document);
  }
  return serverUrl === DOCUMENTED_SERVER ? document : { ...document, servers: [{ url: serverUrl }] };
}

function buildDocument(access: DocumentedAccess): Document {
  const keyed = SECURITY[access];
  const registry = new OpenAPIRegistry();
  const order = orderRequestSchema;
  if (access !== 'open') registerSecuritySchemes(registry);

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
            'RFC 7240. respond-async: answered 202 (Location, Preference-Applied) as soon as the order is under way, its end heard later — GET the Location, the feed or the webhook; the order runs on whether the client stays or not. wait=N: answered as without the header if the order ends within N seconds, 202 otherwise. Without it, the answer is the end, and a client that leaves cancels its order. A retry of an order under way is answered the same way, joining the run: never a second run',
        }),
        'order-tier': z.enum(TIERS).optional().meta({
          description:
            "Run this order at a lower priority tier than the client's own (critical, standard, free): near capacity it is shed and served as that tier. A tier above the client's own is ignored, not refused: the order runs at the client's tier, and the answer's Order-Tier says so. Any other value is 400 bad_request",
        }),
      }),
      body: {
        description: `One JSON object, UTF-8, at most ${MAX_BODY_BYTES} bytes. No other field is allowed at any level.`,
        required: true,
        content: json(order),
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
          'Prefer: respond-async (or wait=N, N seconds passed): the order is under way and runs on; its end is told by GET /orders/{order_id} (Location), the feed and the webhook.',
        content: json(orderAcceptedSchema),
        headers: {
          Location: { description: 'GET /orders/{order_id} of the order.', schema: { type: 'string' } },
          'Preference-Applied': { description: 'respond-async, or wait=N.', schema: { type: 'string' } },
          ...ORDER_TIER,
        },
      },
      400: {
        description:
          'The payment was declined (an order outcome), or the request was bad (kind bad_request: the message names the field).',
        content: { 'application/json': { schema: z.union([orderFailedSchema, errorResponseSchema]) } },
      },
      401: unauthorized,
      403: error('The order carries faults, which need the admin key (kind forbidden).'),
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
          "A dependency's circuit breaker is open (or half-open with its probe order under way): answered at once, before any step started — nothing charged, nothing recorded — with that dependency's kind (payment_unavailable, vendor_unavailable, no_courier) and Retry-After (until the breaker lets an order through, at least 1 s). The payment provider, the vendor or the courier service was unavailable after the step's retries (payment_unavailable, vendor_unavailable, no_courier: not replayed, a retry runs afresh), or the vendor or courier step failed as the order asked (vendor_unavailable, no_courier), a step's thread was lost under it again and again through no fault of its own (thread_lost, with Retry-After: nothing of the order stands), too many orders are in flight or the order records are full (overloaded, with Retry-After; nothing was started), or the order's priority tier has reached its ceiling of the orders in flight, the worker pool's queue or the records' memory while a better tier is in play (TIER_CEILINGS: overloaded, with Retry-After, the message naming the tier; the rest is kept for the tiers above) — or, while several clients share the service, the client's own share of them is (CLIENT_MAX_SHARE of MAX_INFLIGHT, of ORDER_RECORDS_MAX_MB: overloaded, with Retry-After, the message naming the share; other clients are not affected), or the server is shutting down (shutting_down, with Retry-After). With DATABASE_URL also: Postgres cannot be reached and nothing was started (store_unavailable, with Retry-After), or the order's instance was lost or lost Postgres while it ran — its payment voided, nothing of it stands (interrupted, with Retry-After), or Postgres went away while the order's outcome was being recorded and could not say what it kept (outcome_unknown, with Retry-After: a retry with the same order_id gets the recorded outcome, or runs afresh if nothing of it stands).",
        headers: { ...RETRY_AFTER, ...ORDER_TIER },
        content: { 'application/json': { schema: z.union([orderFailedSchema, errorResponseSchema]) } },
      },
      504: orderFailure('ORDER_TIMEOUT_MS passed; every step was canceled.'),
    },
  });

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
    },
    responses: {
      200: { description: 'The order.', content: json(orderStatusSchema) },
      400: error('The path is not well-formed percent-encoded UTF-8 (kind bad_request).'),
      401: unauthorized,
      429: keylessLimited,
      404: error(
        "No record of this order_id among the caller's own orders: never seen, forgotten, or another client's (kind not_found).",
      ),
      405: error('Only GET and HEAD.', ALLOW),
      421: misdirected,
      503: error(
        "Too many connections are open (overloaded, with Retry-After), or the server is shutting down (shutting_down, with Retry-After). With DATABASE_URL also: too many reads wait for the reads' own connections to Postgres (DB_READS_WAITING_MAX, DB_READ_WAIT_MS: overloaded, with Retry-After — busy, never an outage), or Postgres cannot be reached (store_unavailable, with Retry-After).",
        RETRY_AFTER,
      ),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/orders/{order_id}/cancel',
    operationId: 'cancelOrder',
    tags: ['orders'],
    security: keyed,
    summary:
      'Cancel an order under way: its steps are canceled where they run (any thread, any instance), what it charged is refunded, and it ends canceled with an order.canceled event.',
    description:
      "For the order's own client, or the admin (naming the client with ?client=, audited). Idempotent: a cancel of an order that ended canceled answers as the first did. A cancel that races the order's own end is decided by the order's record: either the order had ended (409) or it ends canceled with nothing charged — never a success recorded over a cancel. The answer waits for the order to end, up to 5 s — at once with `Prefer: respond-async`, N seconds with `Prefer: wait=N`; the order itself is answered 409 canceled (and replayed so to a retry).",
    request: {
      params: z.object({
        order_id: z.string().meta({ description: 'The order_id the order was sent with (URL-encoded).' }),
      }),
      query: z.object({
        client: z
          .string()
          .optional()
          .meta({ description: "The admin only: the client whose order it is (default: the caller's own)." }),
      }),
      headers: z.object({
        prefer: z.string().optional().meta({
          description:
            'RFC 7240: respond-async (202 at once, unless the order had ended), or wait=N (seconds, below 5).',
        }),
      }),
    },
    responses: {
      200: {
        description:
          'The order has ended since the cancel: canceled (lifecycle canceled, what it charged refunded) — or failed on its own first, as its outcome says.',
        content: json(orderStatusSchema),
      },
      202: {
        description:
          'Canceled, still winding down (its refund under way) when the wait ended: GET the Location, or read its events.',
        content: json(orderStatusSchema),
        headers: {
          Location: { description: 'GET /orders/{order_id} of the order.', schema: { type: 'string' } },
          'Preference-Applied': {
            description: 'respond-async or wait=N, when the request’s Prefer asked for it (RFC 7240).',
            schema: { type: 'string' },
          },
        },
      },
      400: error('?client= is not one client name (kind bad_request).'),
      401: unauthorized,
      403: error("?client= names another client's order, which only the admin may cancel (kind forbidden)."),
      404: error(
        "No record of this order_id among the caller's own orders (or the named client's): never seen, forgotten, or another client's (kind not_found).",
      ),
      405: error('Only POST.', ALLOW),
      409: error(
        'The order had ended before the cancel, otherwise than canceled (kind order_ended): nothing was changed; `lifecycle` says how it ended.',
      ),
      421: misdirected,
      429: keylessLimited,
      503: error(
        'The server is shutting down (shutting_down), or, with DATABASE_URL, Postgres cannot be reached and nothing was marked (store_unavailable, with Retry-After).',
        RETRY_AFTER,
      ),
    },
  });

  /** `unavailable`: when it answers 503; liveness never does (a draining process is alive). */
  const probe = (operationId: string, path: string, summary: string, schema: z.ZodType, unavailable?: string) => {
    registry.registerPath({
      method: 'get',
      path,
      operationId,
      tags: ['health'],
      security: [],
      summary: `${summary} Public, whatever the Host header says (a load balancer probes by address).`,
      responses: {
        200: { description: 'OK.', content: json(schema) },
        405: error('Only GET and HEAD.', ALLOW),
        ...(unavailable ? { 503: { description: unavailable, content: json(schema) } } : {}),
      },
    });
  };
  probe(
    'getHealth',
    '/healthz',
    'Liveness: what is running right now, read from the shared memory the worker threads write to. 200 whenever the process answers, while draining too (`status` says `draining`): a draining process must not be restarted.',
    healthReportSchema,
  );
  probe(
    'getReadiness',
    '/readyz',
    'Readiness: whether to send this server orders.',
    readinessSchema,
    'The server is draining, shedding orders, or (with DATABASE_URL) cannot reach Postgres or holds no lease.',
  );

  registry.registerPath({
    method: 'get',
    path: '/version',
    operationId: 'getVersion',
    tags: ['meta'],
    security: [],
    summary: 'What build this is: its version, commit when known, and Node version. Needs no key.',
    responses: {
      200: { description: 'OK.', content: json(versionSchema) },
      405: error('Only GET and HEAD.', ALLOW),
      421: misdirected,
      429: keylessLimited,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    tags: ['admin'],
    security: keyed,
    summary: 'Prometheus metrics (absent when METRICS=off).',
    responses: {
      200: { description: 'Prometheus text exposition format.', content: { 'text/plain': { schema: z.string() } } },
      401: unauthorized,
      429: keylessLimited,
      403: forbidden,
      405: error('Only GET and HEAD.', ALLOW),
      421: misdirected,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/threads',
    operationId: 'getThreadsPage',
    tags: ['admin'],
    security: keyed,
    summary: 'The live view of the worker threads: one self-contained HTML page, fed by /threads/events.',
    responses: {
      200: { description: 'HTML.', content: { 'text/html': { schema: z.string() } } },
      401: unauthorized,
      429: keylessLimited,
      403: forbidden,
      405: error('Only GET and HEAD.', ALLOW),
      421: misdirected,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/threads/trace',
    operationId: 'getRecentTrace',
    tags: ['admin'],
    security: keyed,
    summary:
      "The last order's trace, for the live page's waterfall: its spans laid out from the request's start, each step on its thread. Asking keeps the next orders' traces for a minute.",
    responses: {
      200: { description: 'The last order traced since the page last asked.', content: json(traceWaterfallSchema) },
      401: unauthorized,
      429: keylessLimited,
      403: forbidden,
      404: error(
        'No order traced yet since the page asked (send one and ask again), or tracing is off: no OTEL_EXPORTER_OTLP_ENDPOINT (kind not_found).',
      ),
      405: error('Only GET and HEAD.', ALLOW),
      421: misdirected,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/threads/events',
    operationId: 'streamThreadEvents',
    tags: ['admin'],
    security: keyed,
    summary:
      'Server-Sent Events: a snapshot of the threads (lanes, steps on them, couriers, deaths) as JSON, five a second.',
    responses: {
      200: {
        description: 'An event stream; each `data:` line is one JSON snapshot.',
        content: { 'text/event-stream': { schema: z.string() } },
      },
      401: unauthorized,
      429: keylessLimited,
      403: forbidden,
      405: error('Only GET and HEAD.', ALLOW),
      421: misdirected,
    },
  });
  const dependencyName = z.object({
    dependency: z
      .string()
      .meta({ description: 'payment (the payment provider), vendor, or courier (the courier service).' }),
  });
  registry.registerPath({
    method: 'get',
    path: '/admin/dependencies',
    operationId: 'listDependencies',
    tags: ['admin'],
    security: keyed,
    summary: "Every dependency (the steps' remote services): its simulated outage, if any, and its circuit breaker.",
    responses: {
      200: { description: 'Every dependency, in the order of the steps.', content: json(dependenciesSchema) },
      401: unauthorized,
      429: keylessLimited,
      403: forbidden,
      405: error('Only GET and HEAD.', ALLOW),
      421: misdirected,
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/admin/dependencies/{dependency}',
    operationId: 'setDependencyOutage',
    tags: ['admin'],
    security: keyed,
    summary: "Switch a dependency's simulated outage on or off, to see and test what an outage does.",
    description:
      "While on, each call a step makes to the dependency is drawn against failure_ratio: a call that draws a failure reaches nothing (a payment sends no charge) and is answered unavailable after the step's delay and latency_ms; every call is answered latency_ms late. A step calls again after a decorrelated-jitter backoff while its retries (STEP_RETRIES) and its order's deadline allow. The refund of a failed order is not affected. Each instance has its own switch.",
    request: {
      params: dependencyName,
      body: {
        description: 'One JSON object, as strictly decoded as an order.',
        required: true,
        content: json(dependencyOutageBodySchema),
      },
    },
    responses: {
      200: {
        description: "The dependency's state, with the outage as switched.",
        content: json(dependencyStateSchema),
      },
      400: error('The body is not one JSON object of this shape (kind bad_request: the message names the field).'),
      401: unauthorized,
      429: keylessLimited,
      403: forbidden,
      404: error('No dependency by that name (kind not_found).'),
      405: error('Only POST.', ALLOW),
      413: error(`The body is over ${MAX_BODY_BYTES} bytes.`),
      415: error('The body is not application/json in UTF-8.'),
      421: misdirected,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/admin/log-level',
    operationId: 'getLogLevel',
    tags: ['admin'],
    security: keyed,
    summary: 'The level this process logs at now (LOG_LEVEL, or as last changed).',
    responses: {
      200: { description: 'The level.', content: json(logLevelSchema) },
      401: unauthorized,
      429: keylessLimited,
      403: forbidden,
      405: error('Only GET, HEAD and POST.', ALLOW),
      421: misdirected,
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/admin/log-level',
    operationId: 'setLogLevel',
    tags: ['admin'],
    security: keyed,
    summary:
      'Log at another level from now on, without a restart: the main thread at once, every worker thread at its next task.',
    description:
      "Writes an audit line (`log_level_changed`) naming the caller and its admin key's fingerprint, never the key, whatever the new level. One process's level: each instance (INSTANCES) and each pod has its own; a restart goes back to LOG_LEVEL.",
    request: {
      body: {
        description: 'One JSON object, as strictly decoded as an order.',
        required: true,
        content: json(logLevelBodySchema),
      },
    },
    responses: {
      200: { description: 'The level now, and the one before.', content: json(logLevelSchema) },
      400: error('The body is not one JSON object of this shape (kind bad_request: the message names the field).'),
      401: unauthorized,
      429: keylessLimited,
      403: forbidden,
      405: error('Only GET, HEAD and POST.', ALLOW),
      413: error(`The body is over ${MAX_BODY_BYTES} bytes.`),
      415: error('The body is not application/json in UTF-8.'),
      421: misdirected,
    },
  });

  registerOrderViews(registry, keyed, sharedResponses());
  registerEvents(registry, keyed);

  registry.registerPath({
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    tags: ['meta'],
    security: [],
    request: {
      headers: z.object({
        'if-none-match': z.string().optional().meta({ description: 'The ETag of a copy the client has.' }),
      }),
    },
    summary: 'This document.',
    responses: {
      200: {
        description:
          'OpenAPI 3.1, gzip, deflate or br compressed when the request accepts it. In open mode it names no security.',
        headers: {
          ETag: { description: 'Strong: send it back as If-None-Match.', schema: { type: 'string' } },
          'Cache-Control': {
            description: 'no-cache: keep it, but ask with If-None-Match.',
            schema: { type: 'string' },
          },
        },
        content: { 'application/json': { schema: z.looseObject({}) } },
      },
      304: {
        description: 'If-None-Match named the current ETag: the copy the client has is this document.',
        headers: { ETag: { description: 'The same ETag.', schema: { type: 'string' } } },
      },
      405: error('Only GET and HEAD.', ALLOW),
      421: misdirected,
      429: keylessLimited,
    },
  });

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'order-threads',
      version: SERVICE_VERSION,
      description:
        "Order orchestration over a worker pool of OS threads. Callers are known by API keys: a client's key sends and reads that client's own orders; the admin key reaches the thread view, the metrics, faults and the dependencies' outage switch. In open mode (no keys configured, loopback only) nobody needs one: the document served at /openapi.json then names no security, and docs/openapi.yaml, which stands for both modes, offers the empty requirement ({}) beside the keys. Every response carries security headers (nosniff, no referrer, no framing). Any other path is 404 not_found with an ErrorResponse.",
    },
    security: keyed,
    servers: [{ url: DOCUMENTED_SERVER }],
  });
}

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

/** The event feed, the webhook endpoints, the redelivery, and the webhooks themselves. */
/** What the order views' paths share with the rest of the document (src/http/openapi-order-views.ts). */
function sharedResponses(): SharedResponses {
  return {
    json,
    error,
    unauthorized,
    keylessLimited,
    misdirected,
    methods: (allowed) => error(allowed, ALLOW),
    forbidden,
    unavailable: error(
      "Too many connections are open (overloaded, with Retry-After), or the server is shutting down (shutting_down, with Retry-After). With DATABASE_URL also: too many reads wait for the reads' own connections to Postgres (overloaded, with Retry-After), or Postgres cannot be reached (store_unavailable, with Retry-After).",
      RETRY_AFTER,
    ),
  };
}

function registerEvents(registry: OpenAPIRegistry, keyed: Array<Record<string, string[]>>): void {
  /** Its 503s; `reads`: what it reads goes through the reads' own share of Postgres. */
  const unavailable = (reads: boolean) =>
    error(
      `Too many connections are open (overloaded, with Retry-After), or the server is shutting down (shutting_down, with Retry-After). With DATABASE_URL also: ${reads ? "too many reads wait for the reads' own connections to Postgres (DB_READS_WAITING_MAX, DB_READ_WAIT_MS: overloaded, with Retry-After), or " : ''}Postgres cannot be reached (store_unavailable, with Retry-After).`,
      RETRY_AFTER,
    );
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
      503: unavailable(true),
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
      429: webhookChangeLimited,
      404: error("No endpoint by that id among the caller's own (kind not_found)."),
      405: error('Only DELETE.', ALLOW),
      421: misdirected,
      503: unavailable(false),
    },
  });
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
      503: unavailable(true),
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
      403: forbidden,
      404: error('No such event is kept (kind not_found).'),
      405: error('Only POST.', ALLOW),
      421: misdirected,
      503: unavailable(true),
    },
  });
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

function registerSecuritySchemes(registry: OpenAPIRegistry): void {
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: "An API key: a client's (API_KEYS, or issued by `npm run keys`) or the admin's (ADMIN_KEY).",
  });
  registry.registerComponent('securitySchemes', 'basic', {
    type: 'http',
    scheme: 'basic',
    description: 'The same key as the password (the user name is ignored): how a browser opens /threads.',
  });
}

const TAGS = [
  { name: 'orders', description: 'Sending orders and reading them back.' },
  { name: 'health', description: 'Liveness and readiness probes: public.' },
  { name: 'events', description: "What became of a client's orders, after the fact: the event feed and webhooks." },
  { name: 'admin', description: 'The admin surface: metrics, the thread view, the dependencies, redeliveries.' },
  { name: 'meta', description: 'This document.' },
];
/** The operations whose answers carry an order or money, and which of their statuses do. */
const NO_STORE_ANSWERS: Record<string, readonly string[]> = {
  createOrder: ['200', '400', '500', '503', '504'],
  getOrder: ['200'],
};
const ref = (to: string) => ({ $ref: `#/components/${to}` });

const REQUEST_EXAMPLES: Record<string, Record<string, Example<unknown>>> = {
  createOrder: ORDER_REQUEST_EXAMPLES,
  createWebhook: {
    endpoint: {
      summary:
        'Events to an https endpoint: name your own. This one, under .example, never resolves, so as it is it is refused (400), as every URL that does not resolve to a public address is: an example that registered would send real events to a real host.',
      value: { url: 'https://shop.example/hooks/orders' },
    },
  },
  setDependencyOutage: {
    partial: {
      summary: 'Half the calls fail, every one 10 ms late',
      value: { outage: true, failure_ratio: 0.5, latency_ms: 10 },
    },
    off: { summary: 'End the outage', value: { outage: false } },
  },
  setLogLevel: { debug: { summary: 'Every step logs from its thread', value: { level: 'debug' } } },
};
const RESPONSE_EXAMPLES: Record<string, Record<string, Record<string, Example<OrderAnswer>>>> = {
  createOrder: CREATE_ORDER_EXAMPLES,
  getOrder: GET_ORDER_EXAMPLES,
};

/** The same answers as problem details, as a request preferring them gets them (src/http/problem-details.ts). */
function problemExamples(examples: Record<string, Example<OrderAnswer>>): Record<string, Example<unknown>> {
  const problems: Record<string, Example<unknown>> = {};
  for (const [name, { summary, value }] of Object.entries(examples)) {
    if (!('error' in value) || !value.error) continue;
    const outcome =
      'steps' in value
        ? {
            order_id: value.order_id,
            steps: value.steps,
            ...(value.compensations ? { compensations: value.compensations } : {}),
          }
        : {};
    problems[name] = { summary, value: problem(value.error.kind, value.error.message, 'req-problem-1', outcome) };
  }
  return problems;
}

type Operation = {
  operationId?: string;
  summary?: string;
  responses: Record<
    string,
    { description: string; headers?: Record<string, unknown>; content?: Record<string, unknown> }
  >;
} & Record<string, unknown>;

/**
 * What every operation shares, added once here rather than in each: X-Request-Id on every response (a shared
 * header component), problem details beside every JSON error, Cache-Control on answers with money, and HEAD
 * wherever GET is served (Express answers it with GET's headers and no body).
 */
function completed(document: Document): Document {
  const paths = document.paths as Record<string, Record<string, Operation>>;
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      const noStore = NO_STORE_ANSWERS[operation.operationId ?? ''] ?? [];
      const requestExamples = REQUEST_EXAMPLES[operation.operationId ?? ''];
      const body = operation['requestBody'] as { content: Record<string, Record<string, unknown>> } | undefined;
      if (requestExamples && body?.content['application/json'])
        body.content['application/json']['examples'] = requestExamples;
      const examples = RESPONSE_EXAMPLES[operation.operationId ?? ''] ?? {};
      for (const [status, response] of Object.entries(operation.responses)) {
        const content = response.content as Record<string, Record<string, unknown>> | undefined;
        // Errors and failed order outcomes, which a request preferring problem details gets as one; a probe's 503 is
        // its report, not an error.
        const answer = JSON.stringify(content?.['application/json']?.['schema'] ?? null);
        if (Number(status) >= 400 && /ErrorResponse|OrderFailed/.test(answer) && content)
          content[PROBLEM_JSON] ??= { schema: ref('schemas/Problem') };
        // An order outcome or a plain error, never both: an outcome always has steps, a plain error never (both
        // are closed shapes). No field has a value that tells them apart without changing the seed's wire format,
        // so no discriminator: `steps` in the body is the test (docs/api.md).
        const either = content?.['application/json']?.['schema'] as { anyOf?: unknown } | undefined;
        if (either?.anyOf) content!['application/json']!['schema'] = { oneOf: either.anyOf };
        const these = examples[status];
        const probe = PROBE_EXAMPLES[operation.operationId ?? '']?.[status];
        if (probe && content?.['application/json']) content['application/json']['examples'] = probe;
        if (these && content?.['application/json']) {
          content['application/json']['examples'] = these;
          if (content[PROBLEM_JSON]) content[PROBLEM_JSON]['examples'] = problemExamples(these);
        }
        response.headers = {
          'X-Request-Id': ref('headers/X-Request-Id'),
          traceresponse: ref('headers/traceresponse'),
          ...(noStore.includes(status) ? { 'Cache-Control': ref('headers/Cache-Control') } : {}),
          ...response.headers,
        };
      }
    }
    const get = item['get'];
    if (get) {
      item['head'] = {
        ...get,
        operationId: `${get.operationId}Head`,
        summary: `Headers only: ${get.summary}`,
        responses: Object.fromEntries(
          Object.entries(get.responses).map(([status, { content: _body, ...response }]) => [status, response]),
        ),
      };
    }
  }
  return {
    ...document,
    info: { ...document.info, license: { name: 'MIT', identifier: 'MIT' } },
    tags: TAGS,
    components: {
      ...document.components,
      headers: {
        'X-Request-Id': {
          description:
            "The request id, on every response: the one sent, if it looked like one (1-128 of A-Z a-z 0-9 . _ -), or a new one. A problem's instance.",
          required: true,
          schema: { type: 'string' },
        },
        traceresponse: {
          description:
            "W3C Trace Context Level 2: `00-{trace id}-{span id}-{flags}` — the request's trace (the caller's, if it sent a traceparent), the span that answered it, and whether the trace is recorded (01) or not (00). Every log line of its order carries the trace id as trace_id, exported spans or not. On every response but a malformed request's refused before it was parsed.",
          required: false,
          schema: { type: 'string', pattern: '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' },
        },
        'Cache-Control': {
          description:
            '`no-store` on every answer that carries an order or money, and on every error: no cache may keep it.',
          required: true,
          schema: { type: 'string', const: 'no-store' },
        },
      },
    },
  };
}
