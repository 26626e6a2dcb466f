/**
 * The HTTP surface: request ids and request logs, security headers, the gate
 * every request passes (drain, connection limit, Host), who may call what
 * (public: the probes and the API document; a client's key: orders; the
 * admin key: the thread view, the metrics, faults, the dependencies' outage
 * switch, the log level), routes, 404/405, and the one error answer that turns
 * body-reading and store failures into their kinds (the error handler's, and
 * the order route's for its own). It knows orders only through `OrderDesk`.
 */
import { buildInfo } from '../version.js';
import type { Socket } from 'node:net';
import express, { type ErrorRequestHandler, type Express, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import { StoreBusy, StoreUnavailable, type ErrorKind } from '../domain/errors.js';
import type { OrderObserver } from '../observability/metrics.js';
import type { HealthReport } from './wire/api-schemas.js';
import { guards, type Guards, type Identify } from './guards/authorization.js';
import { gate, type GateOptions } from './guards/gate.js';
import { healthRoute, readinessRoute } from './routes/health-route.js';
import type { Capacity } from '../orders/order-admission.js';
import { answerAs, writeSharedHeaders } from './wire/response-headers.js';
import type { OrderStatusQuery } from '../orders/order-status.js';
import { BodyError } from './wire/body-reader.js';
import { dependencyList, dependencySwitch, type DependencyControl } from './routes/dependencies-route.js';
import type { ClientShares } from '../orders/client-shares.js';
import type { DependencyAdmission } from '../orders/admission.js';
import type { OrderDesk } from '../orders/order-desk.js';
import { logLevelChange, logLevelReading, type LogLevelControl } from './routes/log-level-route.js';
import { openApiRoute } from './routes/openapi-route.js';
import { orderRoute } from './routes/order-route.js';
import type { OrderRouteDependencies } from './routes/order-route.js';
import { orderStatusRoute } from './routes/order-status-route.js';
import { orderCancelRoute } from './routes/order-cancel-route.js';
import { orderRedriveRoute } from './routes/order-redrive-route.js';
import { rateLimit, type ClientRateLimiter } from './guards/rate-limit.js';
import { requestLog } from './guards/request-log.js';
import type { UnauthenticatedMeter } from './guards/unauthenticated-meter.js';
import { Responder } from './wire/responses.js';
import type { ThreadEvents } from '../observability/live-pages/thread-events.js';
import { threadEventsRoute } from './routes/thread-events-route.js';
import type { ClientEvents } from '../events/client-events.js';
import { eventFeed, redeliverEvent } from './routes/events-route.js';
import { createWebhook, deleteWebhook, listWebhooks, webhookChangesLimit } from './routes/webhooks-route.js';
import { threadsPage } from '../observability/live-pages/threads-page.js';
import { consolePage } from '../observability/live-pages/console-page.js';
import type { AssembledPage } from '../observability/live-pages/page-assembly.js';
import type { RecentTrace, RequestTracing } from '../domain/trace.js';
import type { FeedCursors } from '../events/feed-cursor.js';
import type { PaymentLedger } from '../ledger/payment-ledger.js';
import type { OrderRecords } from '../orders/order-records.js';
import type { StepAttempts } from '../orders/step-attempts.js';
import type { ServiceBooks } from '../ledger/service-books.js';
import { orderListRoute } from './routes/order-list-route.js';
import { orderTimelineRoute } from './routes/order-timeline-route.js';

export interface AppDependencies {
  readonly orders: Pick<OrderDesk, 'submit' | 'cancel' | 'redrive'>;
  readonly orderStatus: OrderStatusQuery;
  /** Whether an order may carry `faults` (FAULT_INJECTION=on). */
  readonly faultInjection: boolean;
  /** ORDER_DEADLINE_MAX_MS: the longest `deadline_ms` an order may ask for. */
  readonly maxDeadlineMs: number;
  /** ORDER_TIMEOUT_MS: the deadline of an order that asks for none. */
  readonly orderTimeoutMs: number;
  readonly capacity: () => Capacity;
  readonly health: () => HealthReport;
  /** Whether no order can start now for want of the durable store (the durable mode only). */
  readonly storeUnavailable?: () => boolean;
  /** Whether the order records have no room for a new order. */
  readonly recordsFull: () => boolean;
  readonly draining: () => boolean;
  /**
   * Whether /readyz says `draining` though orders are still served: from SIGTERM for DRAIN_DELAY_MS, while the load
   * balancer stops sending here. Without: only while draining.
   */
  readonly leaving?: () => boolean;
  /**
   * True for a connection opened beyond MAX_CONNECTIONS that found no room: its request is refused and the connection
   * closed. `client`: who the request's key names, asked only then (a client within its share may take a connection
   * of one beyond its own).
   */
  readonly overConnectionLimit: (socket: Socket, client: () => string | undefined) => boolean;
  /** Told of each connection on which a caller was identified, and who (src/http/server.ts: the connections' shares). */
  readonly authenticated?: (socket: Socket, client: string) => void;
  readonly log: Logger;
  readonly observer: OrderObserver;
  /** The Prometheus exposition; undefined when metrics are off (then /metrics is 404). */
  readonly metrics: (() => Promise<{ contentType: string; body: string }>) | undefined;
  /** The OpenAPI document of this API. */
  readonly openapi: () => unknown;
  /** The thread view's stream of snapshots (GET /threads/events; the page is GET /threads). */
  readonly threadEvents: ThreadEvents;
  /** Who a request's key says it is, or who every request is (open mode). */
  readonly identify: Identify;
  /** Host names requests may be addressed to (ALLOWED_HOSTS); any other is 421, but for the probes. */
  readonly allowedHosts: readonly string[];
  /** What the dependencies' circuit breakers say of a new order; every order goes through without. */
  readonly dependencies?: (client: string) => DependencyAdmission;
  /** The dependencies' simulated outages and breakers, for the admin (/admin/dependencies). */
  readonly dependencyControl: DependencyControl;
  /** The log level, read and changed by the admin (/admin/log-level); without, those routes are 404. */
  readonly logLevel?: LogLevelControl;
  /** Each client's share of the orders in flight and the records (the bulkheads); without: none. */
  readonly clientShares?: Pick<ClientShares, 'asked' | 'fullFor' | 'counted' | 'wouldFit' | 'withinFloor'>;
  /** Priority tiers: each caller's, and the headroom kept for the tiers above; without: all standard. */
  readonly tiers?: OrderRouteDependencies['tiers'];
  /** Each client's rate limit on POST /order, and who to tell of an order refused for it; without: no limit. */
  readonly rateLimits?: { readonly limiter: ClientRateLimiter; readonly limited: (client: string) => void };
  /** Each client's budget on every other route, and its share of a late event loop (the gate's); without: none. */
  readonly requestBudget?: GateOptions['requestBudget'];
  readonly clientLoad?: GateOptions['clientLoad'];
  /** Each request's trace and span (src/tracing/); without: a request id alone, no trace id. */
  readonly tracing?: RequestTracing;
  /** The last order's trace, for the live page (GET /threads/trace); without: tracing is off, 404. */
  readonly recentTrace?: RecentTrace;
  /** The event feed and the webhook endpoints; without (a store that keeps no events), their routes are 404. */
  readonly events?: ClientEvents;
  /** Requests no key identifies, metered per peer (with keys); without: not metered. */
  readonly unauthenticated?: UnauthenticatedMeter;
  /** The operator's views of orders: the list (GET /orders) and one order's timeline; without, they are 404. */
  readonly orderViews?: OrderViews;
}

export interface OrderViews {
  readonly records: Pick<OrderRecords, 'list' | 'get'>;
  readonly ledger: Pick<PaymentLedger, 'moneyOf'>;
  /** Each step's attempts as recorded; absent where none is (in memory). */
  readonly attempts?: StepAttempts;
  /** The books of the services steps act on; absent where they are not kept past a run (in memory). */
  readonly effects?: Pick<ServiceBooks, 'receivedFor'>;
  /** The deadline of an order that sent none (ORDER_TIMEOUT_MS). */
  readonly orderTimeoutMs: number;
  /** Whether the store keeps what the admin's redrive needs (durable mode). */
  readonly redrives: boolean;
  /** Signs the list's cursors: the event feed's kind, with the store's secret. */
  readonly cursors: FeedCursors;
}

export function createApp(dependencies: AppDependencies): Express {
  const { draining, dependencyControl, identify, authenticated } = dependencies;
  const responder = new Responder({ draining, dependencyRetryAfter: retryAfterOf(dependencyControl) });
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('strict routing', true);
  app.set('case sensitive routing', true);
  // No route reads a query string: not parsing one saves every request the work.
  app.set('query parser', false);

  useGuards(app, dependencies, responder);
  const answerFailure = requestFailure(responder);
  const kit: RouteKit = {
    app,
    responder,
    may: guards(identify, responder, authenticated),
    methodNotAllowed: (allow) => (req, res) =>
      responder.error(res, 'method_not_allowed', `${req.method} is not allowed on ${req.path}; use ${allow}`, {
        Allow: allow,
      }),
  };
  routeOrders(kit, dependencies, answerFailure);
  routeEvents(kit, dependencies);
  routeOps(kit, dependencies);
  routeAdmin(kit, dependencies);
  app.use((req, res) => responder.error(res, 'not_found', `no route for ${req.method} ${req.path}`));

  const onError: ErrorRequestHandler = (error: unknown, _req, res, next) => {
    if (res.headersSent) return next(error);
    answerFailure(error, res);
  };
  app.use(onError);
  return app;
}

/** What every group of routes is given: the app, the answers, who may call what, and the 405 of a path. */
interface RouteKit {
  readonly app: Express;
  readonly responder: Responder;
  readonly may: Guards;
  readonly methodNotAllowed: (allow: string) => RequestHandler;
}

/** Before routing: the request's log line, the headers every response shares, and the gate. */
function useGuards(app: Express, dependencies: AppDependencies, responder: Responder): void {
  app.use(requestLog(dependencies.log, dependencies.tracing));
  // Each kind of answer's headers (HEADERS_OF), written with each head.
  writeSharedHeaders(app);
  app.use(gate(dependencies, responder));
}

/** POST /order, an order's status and cancel, and the operator's views of orders. */
function routeOrders(
  { app, responder, may, methodNotAllowed }: RouteKit,
  dependencies: AppDependencies,
  answerFailure: (error: unknown, res: Response) => void,
): void {
  const {
    orders,
    orderStatus,
    rateLimits,
    dependencies: breakers,
    clientShares,
    tiers,
    orderViews,
    log,
  } = dependencies;
  const { capacity, draining, observer, faultInjection, maxDeadlineMs, orderTimeoutMs } = dependencies;
  // The rate limit before the body is read: an order over it costs nothing more.
  const limited = rateLimits ? [rateLimit(rateLimits.limiter, responder, rateLimits.limited)] : [];
  const route = orderRoute({
    orders,
    capacity,
    draining,
    responder,
    observer,
    faultInjection,
    maxDeadlineMs,
    orderTimeoutMs,
    ...(breakers ? { dependencies: breakers } : {}),
    ...(clientShares ? { clientShares } : {}),
    ...(tiers ? { tiers } : {}),
    failed: answerFailure,
  });
  app.post('/order', may.client, ...limited, ...route);
  app.all('/order', methodNotAllowed('POST'));
  app.get('/orders/:orderId', may.client, orderStatusRoute(orderStatus, responder));
  app.all('/orders/:orderId', methodNotAllowed('GET, HEAD'));
  if (orderViews)
    routeOrderViews(app, { views: orderViews, events: dependencies.events, may, responder, methodNotAllowed });
  app.post(
    '/orders/:orderId/cancel',
    may.client,
    orderCancelRoute({
      cancel: (key, by, waitMs) => orders.cancel(key, by, waitMs),
      status: orderStatus,
      responder,
      log,
    }),
  );
  app.all('/orders/:orderId/cancel', methodNotAllowed('POST'));
}

/** The webhook endpoints, the event feed and the admin's redelivery; none without a store that keeps events. */
function routeEvents({ app, responder, may, methodNotAllowed }: RouteKit, { events, log }: AppDependencies): void {
  if (!events) return;
  const changes = webhookChangesLimit(responder);
  app.post('/webhooks', may.client, changes, ...createWebhook(events, responder));
  app.get('/webhooks', may.client, listWebhooks(events, responder));
  app.all('/webhooks', methodNotAllowed('GET, HEAD, POST'));
  app.delete('/webhooks/:id', may.client, changes, deleteWebhook(events, responder));
  app.all('/webhooks/:id', methodNotAllowed('DELETE'));
  app.get('/events', may.client, eventFeed(events, responder));
  app.all('/events', methodNotAllowed('GET, HEAD'));
  app.post('/admin/events/:id/redeliver', may.admin, redeliverEvent(events, responder, log));
  app.all('/admin/events/:id/redeliver', methodNotAllowed('POST'));
}

/** What runs the service rather than its orders, open to all: the probes, the version, the API document. */
function routeOps({ app, responder, methodNotAllowed }: RouteKit, dependencies: AppDependencies): void {
  const { health, draining, capacity, recordsFull, openapi } = dependencies;
  const { storeUnavailable = () => false, leaving = () => false } = dependencies;
  app.get('/healthz', healthRoute(health, draining, responder));
  app.all('/healthz', methodNotAllowed('GET, HEAD'));
  app.get(
    '/readyz',
    readinessRoute({ capacity, draining: () => leaving() || draining(), storeUnavailable, recordsFull }, responder),
  );
  app.all('/readyz', methodNotAllowed('GET, HEAD'));
  const build = buildInfo();
  app.get('/version', (_req, res) => responder.json(res, 200, build));
  app.all('/version', methodNotAllowed('GET, HEAD'));
  app.get('/openapi.json', ...openApiRoute(openapi, responder));
  app.all('/openapi.json', methodNotAllowed('GET, HEAD'));
}

/** The admin's: the thread view (its page, last trace and stream), the dependencies, the log level, the metrics. */
function routeAdmin({ app, responder, may, methodNotAllowed }: RouteKit, dependencies: AppDependencies): void {
  const { faultInjection, recentTrace, threadEvents, dependencyControl, logLevel, metrics } = dependencies;
  const { orders, orderStatus, capacity, log } = dependencies;
  app.post(
    '/admin/orders/:orderId/redrive',
    may.admin,
    orderRedriveRoute({
      redrive: (key, trace) => orders.redrive(key, trace),
      status: orderStatus,
      capacity,
      responder,
      log,
    }),
  );
  app.all('/admin/orders/:orderId/redrive', methodNotAllowed('POST'));
  app.get('/threads', may.admin, servedPage(threadsPage({ faultInjection })));
  app.all('/threads', methodNotAllowed('GET, HEAD'));
  app.get('/threads/trace', may.admin, (_req, res) => {
    const waterfall = recentTrace?.();
    if (waterfall) return responder.json(res, 200, waterfall);
    responder.error(
      res,
      'not_found',
      recentTrace
        ? 'no order traced since this was last asked: send one, and ask again'
        : 'tracing is off: set OTEL_EXPORTER_OTLP_ENDPOINT to trace orders',
    );
  });
  app.all('/threads/trace', methodNotAllowed('GET, HEAD'));
  app.get('/threads/events', may.admin, threadEventsRoute(threadEvents, responder));
  app.all('/threads/events', methodNotAllowed('GET, HEAD'));
  app.get('/admin/dependencies', may.admin, dependencyList(dependencyControl, responder));
  app.all('/admin/dependencies', methodNotAllowed('GET, HEAD'));
  app.post('/admin/dependencies/:dependency', may.admin, ...dependencySwitch(dependencyControl, responder));
  app.all('/admin/dependencies/:dependency', methodNotAllowed('POST'));
  if (logLevel) {
    app.get('/admin/log-level', may.admin, logLevelReading(logLevel, responder));
    app.post('/admin/log-level', may.admin, ...logLevelChange(logLevel, responder));
    app.all('/admin/log-level', methodNotAllowed('GET, HEAD, POST'));
  }
  if (metrics) {
    app.get('/metrics', may.admin, async (_req, res) => {
      const { contentType, body } = await metrics();
      res.setHeader('Content-Type', contentType);
      res.end(body);
    });
    app.all('/metrics', methodNotAllowed('GET, HEAD'));
  }
}

/** The operator's views: the list of orders, one order's timeline, and the console page over them. */
function routeOrderViews(
  app: Express,
  {
    views,
    events,
    may,
    responder,
    methodNotAllowed,
  }: {
    views: OrderViews;
    events: ClientEvents | undefined;
    may: Guards;
    responder: Responder;
    methodNotAllowed: (allow: string) => RequestHandler;
  },
): void {
  app.get('/orders', may.client, orderListRoute(views.records, views.cursors, responder));
  app.all('/orders', methodNotAllowed('GET, HEAD'));
  app.get('/orders/:orderId/timeline', may.client, orderTimelineRoute({ ...views, events }, responder));
  app.all('/orders/:orderId/timeline', methodNotAllowed('GET, HEAD'));
  app.get('/console', may.admin, servedPage(consolePage()));
  app.all('/console', methodNotAllowed('GET, HEAD'));
}

/** One of the service's own pages, answered as it was put together at start. */
function servedPage(assembled: AssembledPage): RequestHandler {
  const page = Buffer.from(assembled.html);
  return (req, res) => {
    answerAs(res, 'page');
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Security-Policy', assembled.contentSecurityPolicy);
    res.setHeader('Content-Length', page.length);
    res.end(req.method === 'HEAD' ? undefined : page);
  };
}

/**
 * A request that failed, answered: the one error handler's answer, also the order route's, which answers its own
 * failures (src/http/routes/order-route.ts).
 */
function requestFailure(responder: Responder): (error: unknown, res: Response) => void {
  return (error, res) => {
    if (error instanceof BodyError) {
      if (error.kind === 'client_gone') return; // nobody to answer; the request's line says 499
      return responder.error(res, error.kind, error.message);
    }
    // The router could not decode a path parameter (`%ZZ`, a lone surrogate's bytes): the client's URL, not our fault.
    if (error instanceof URIError)
      return responder.error(res, 'bad_request', 'the path is not well-formed percent-encoded UTF-8');
    // A route's store, busy or gone (the durable mode's event feed, webhook endpoints, admin reads): the same answers
    // as an order's, never a 500.
    if (error instanceof StoreBusy) return responder.error(res, 'overloaded', 'the store is busy; retry shortly');
    if (error instanceof StoreUnavailable)
      return responder.error(res, 'store_unavailable', 'the store cannot be reached right now; retry shortly');
    res.locals.log.error({ err: error }, 'request failed');
    responder.error(res, 'internal', 'internal error');
  };
}

/** Seconds until a dependency out by its breaker or a simulated outage may be back; undefined if none is known. */
function retryAfterOf(control: DependencyControl): (kind: ErrorKind) => number | undefined {
  return (kind) => {
    const state = control.states().find(({ dependency }) => dependency.unavailable === kind);
    if (!state) return undefined;
    const { breaker, outage } = state;
    if (breaker?.state === 'open') return Math.max(1, Math.ceil(breaker.openForMs / 1000));
    if (breaker?.state === 'half_open' || outage.failureRatio > 0) return 1;
    return undefined;
  };
}
