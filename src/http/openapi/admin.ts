/**
 * The OpenAPI description of the admin surface: the metrics, the thread view
 * (its page, its stream, the last trace), the dependencies' outage switch and
 * the log level.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  dependenciesSchema,
  dependencyStateSchema,
  orderStatusSchema,
  traceWaterfallSchema,
} from '../wire/api-schemas.js';
import { MAX_BODY_BYTES } from '../wire/body-reader.js';
import { dependencyOutageBodySchema } from '../routes/dependencies-route.js';
import { logLevelBodySchema, logLevelSchema } from '../routes/log-level-route.js';
import {
  ALLOW,
  changeRefused,
  error,
  FORBIDDEN,
  forbidden,
  json,
  keylessLimited,
  methods,
  misdirected,
  RETRY_AFTER,
  unauthorized,
  type Keyed,
  POLL_AFTER,
} from './shared.js';

/** How an admin GET is refused (a response's statuses are listed in their numeric order whatever the order here). */
const ADMIN_READ_REFUSALS = {
  401: unauthorized,
  403: forbidden,
  405: error('Only GET and HEAD.', ALLOW),
  421: misdirected,
  429: keylessLimited,
};

export function registerAdmin(registry: OpenAPIRegistry, keyed: Keyed): void {
  registerThreadView(registry, keyed);
  registerDependencySwitch(registry, keyed);
  registerLogLevel(registry, keyed);
  registerRedrive(registry, keyed);
}

/** The admin's redrive of an order parked or failed by the infrastructure (durable mode). */
function registerRedrive(registry: OpenAPIRegistry, keyed: Keyed): void {
  registry.registerPath({
    method: 'post',
    path: '/admin/orders/{order_id}/redrive',
    operationId: 'redriveOrder',
    tags: ['admin'],
    security: keyed,
    summary:
      'Send on an order parked dead_lettered, or failed by the infrastructure, as a new run from its first unfinished step (durable mode; audited).',
    description:
      'The admin only. An order whose outcome is dead_lettered, interrupted, thread_lost, shutting_down, store_unavailable or outcome_unknown, and whose last run holds no money (charged all refunded), is begun again as a new run on this instance: its steps recorded ok that moved no money (vendor, courier) stand as recorded; the payment, undone with the run before, runs again under the new run’s key. It ends as any run, with its events. Its run is admitted here as a new order is: with no room for it on this instance (MAX_INFLIGHT, its tier’s headroom, its client’s share), 503 overloaded with Retry-After, the order left as it was, to be redriven again. In memory nothing is kept to redrive: 409 not_redrivable.',
    request: {
      params: z.object({
        order_id: z.string().meta({ description: 'The order_id the order was sent with (URL-encoded).' }),
      }),
      query: z.object({
        client: z
          .string()
          .optional()
          .meta({ description: "The client whose order it is (default: the caller's own)." }),
      }),
    },
    responses: {
      202: {
        description: 'Redriven: its new run is under way (lifecycle running). GET the Location, or read its events.',
        content: json(orderStatusSchema),
        headers: {
          Location: { description: 'GET /orders/{order_id} of the order.', schema: { type: 'string' } },
          ...POLL_AFTER,
        },
      },
      400: error('?client= is not one client name (kind bad_request).'),
      401: unauthorized,
      403: changeRefused(FORBIDDEN),
      404: error('No record of this order_id for the client (kind not_found).'),
      405: methods('POST'),
      409: error(
        'Its last run holds money not refunded (kind money_unsettled): it is settled first; or the order is running or ended otherwise than parked or failed by the infrastructure, or the service keeps its orders in memory (kind not_redrivable). `lifecycle` says where it is.',
      ),
      421: misdirected,
      429: keylessLimited,
      503: error(
        "No room for its run on this instance now (overloaded, with Retry-After: nothing was changed; redrive it again), a dependency's breaker is open (its kind, with Retry-After), or the server is shutting down (shutting_down, with Retry-After). Also: too many connections are open (overloaded), or Postgres cannot be reached (store_unavailable, with Retry-After).",
        RETRY_AFTER,
      ),
    },
  });
}

/** The metrics, and the thread view: its page, its last trace, its stream. */
function registerThreadView(registry: OpenAPIRegistry, keyed: Keyed): void {
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    tags: ['admin'],
    security: keyed,
    summary: 'Prometheus metrics (absent when METRICS=off).',
    responses: {
      200: { description: 'Prometheus text exposition format.', content: { 'text/plain': { schema: z.string() } } },
      ...ADMIN_READ_REFUSALS,
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
      ...ADMIN_READ_REFUSALS,
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
      ...ADMIN_READ_REFUSALS,
      404: error(
        'No order traced yet since the page asked (send one and ask again), or tracing is off: no OTEL_EXPORTER_OTLP_ENDPOINT (kind not_found).',
      ),
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
      ...ADMIN_READ_REFUSALS,
    },
  });
}

function registerDependencySwitch(registry: OpenAPIRegistry, keyed: Keyed): void {
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
      ...ADMIN_READ_REFUSALS,
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
      403: changeRefused(FORBIDDEN),
      404: error('No dependency by that name (kind not_found).'),
      405: error('Only POST.', ALLOW),
      413: error(`The body is over ${MAX_BODY_BYTES} bytes.`),
      415: error('The body is not application/json in UTF-8.'),
      421: misdirected,
    },
  });
}

function registerLogLevel(registry: OpenAPIRegistry, keyed: Keyed): void {
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
      403: changeRefused(FORBIDDEN),
      405: error('Only GET, HEAD and POST.', ALLOW),
      413: error(`The body is over ${MAX_BODY_BYTES} bytes.`),
      415: error('The body is not application/json in UTF-8.'),
      421: misdirected,
    },
  });
}
