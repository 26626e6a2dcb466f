/**
 * Request ids and the request log. Every request gets an id — the client's
 * X-Request-Id if it looks like one, a fresh UUID otherwise — echoed in the
 * response and bound to every log line written for it, including by the
 * worker threads its steps run on. So is its trace id (W3C Trace Context:
 * the caller's `traceparent` continued, or a new trace), returned in the
 * `traceresponse` header; the request's span ends with its line. When it is answered, one JSON line says
 * what it was: request id, method, path, status, duration; for an order,
 * the same line also carries the order's outcome (order id, kind, each
 * step's status), so an order costs one log line, not two.
 *
 * Written by hand rather than with pino-http, which creates two child
 * loggers per request where one does: logging must stay a small share of
 * what an order costs the main thread.
 */
import type { RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { randomUuid } from '../../random-ids.js';
import { traceLogFields, type RequestSpan, type RequestTracing, type Trace } from '../../domain/trace.js';
import { STATUS_BY_KIND } from '../wire/error-status.js';
import type { AnsweredVia } from '../../orders/order-desk.js';

/**
 * An incoming X-Request-Id is kept if it is a plain token: it is echoed in
 * a header and written in every log line, so nothing a client sends may
 * look like anything else there. Anything else is replaced by a fresh one.
 */
const SANE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** A step as its order's line names it: `name:status`. */
interface StepNamed {
  readonly name: string;
  readonly status: string;
}

/** What an order adds to its request's line; turned into the line's fields only if the line is written. */
export interface OrderOutcome {
  readonly client: string;
  readonly orderId: string;
  /** The priority tier it came at. */
  readonly tier: string;
  readonly kind: string;
  readonly steps: readonly StepNamed[];
  readonly compensations: readonly StepNamed[];
  /** How an order was answered; only joined or replayed is said. */
  readonly via: AnsweredVia | undefined;
}

const named = (steps: readonly StepNamed[]): string[] => steps.map((step) => `${step.name}:${step.status}`);

/** The client's request id if it looks like one, a fresh one otherwise. */
export function requestIdFrom(given: unknown): string {
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUuid();
}

/** Logged for a request whose connection closed before it was answered. */
const CLIENT_GONE = STATUS_BY_KIND.client_gone;

function messageFor(orderKind: string | undefined, status: number, streaming: boolean): string {
  if (streaming) return 'event stream ended';
  if (orderKind === undefined)
    return status === CLIENT_GONE ? 'client went away before it was answered' : 'request answered';
  switch (orderKind) {
    case 'ok':
      return 'order done';
    case 'client_gone':
      return 'client went away; order canceled';
    case 'compensation_failed':
      return 'order failed and could not be undone: needs a person';
    default:
      return 'order failed';
  }
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      requestId: string;
      /** The service's logger, which the request's line is written with (its ids in the line). */
      serviceLog: Logger;
      /** The request's trace: its id is on every log line of it, and its order's spans are children of its span. */
      trace: Trace;
      /** The request's own span, ended with its line; absent without tracing. */
      requestSpan?: RequestSpan;
      /** Bound to the request id and the trace id; made when first used (an order's request has no other line). */
      log: Logger;
      /** When the request arrived (performance.now()). */
      arrivedAt: number;
      /** Set while an order runs: its line waits for the outcome, even if the client leaves first. */
      orderRunning?: boolean;
      /** Set for an event stream: it ends when its viewer leaves, which is its normal end, not a 499. */
      streaming?: boolean;
      requestLogged?: boolean;
      /** Set for a request whose line is left out (one metered past its peer's rate: a notice counts them). */
      quiet?: boolean;
    }
  }
}

/** A header's one value, if it came once. */
const single = (value: string | string[] | undefined): string | undefined =>
  typeof value === 'string' ? value : undefined;

export function requestLog(log: Logger, tracing?: RequestTracing): RequestHandler {
  return (req, res, next) => {
    const requestId = requestIdFrom(req.headers['x-request-id']);
    const arrivedAt = performance.now();
    // X-Request-Id and traceresponse go out with the head (src/http/wire/response-headers.ts).
    res.locals.requestId = requestId;
    res.locals.arrivedAt = arrivedAt;
    if (tracing) {
      const span = tracing.begin({
        method: req.method,
        requestId,
        traceparent: single(req.headers.traceparent),
        tracestate: single(req.headers.tracestate),
        arrivedAt,
      });
      res.locals.requestSpan = span;
      res.locals.trace = span.trace;
    } else res.locals.trace = { requestId };
    res.locals.serviceLog = log;
    Object.defineProperty(res.locals, 'log', LAZY_LOG);
    res.on('finish', requestEnded);
    res.on('close', requestEnded);
    next();
  };
}

/**
 * The response finished, or closed (whichever first: the line is written once). One function for every request, its
 * `this` the response, rather than a closure made for each.
 */
function requestEnded(this: Response): void {
  // An order's line waits for its outcome. Closed before the response was complete: the client left (mid-body, say),
  // whatever statusCode says.
  if (!this.locals.orderRunning)
    writeRequestLine(this, this.writableFinished || this.locals.streaming ? this.statusCode : CLIENT_GONE);
}

/**
 * `res.locals.log`: the request's child logger, made the first time something logs with it and kept from then on. A
 * pino child per request, most of which log nothing but their line, cost the main thread a logger and its bindings'
 * JSON each.
 */
const LAZY_LOG: PropertyDescriptor = {
  configurable: true,
  enumerable: true,
  get(this: Express.Locals): Logger {
    const child = this.serviceLog.child({ request_id: this.requestId, ...traceLogFields(this.trace) });
    Object.defineProperty(this, 'log', { value: child, writable: true, configurable: true, enumerable: true });
    return child;
  },
};

/**
 * The request's one line; a second call does nothing. `status` 499: the client went away. Its fields are built only
 * if the line is written at all (its level enabled).
 */
export function writeRequestLine(res: Response, status: number, order?: OrderOutcome): void {
  const { locals, req } = res;
  if (locals.requestLogged) return;
  locals.requestLogged = true;
  locals.requestSpan?.end({
    status,
    ...(req.route ? { route: String((req.route as { path: unknown }).path) } : {}),
    ...(order ? { client: order.client, orderId: order.orderId, kind: order.kind } : {}),
  });
  const level = status === 500 ? 'error' : status > 500 ? 'warn' : 'info';
  const log = locals.serviceLog;
  if (locals.quiet || !log.isLevelEnabled(level)) return;
  const { traceId } = locals.trace;
  // The request's ids first, as its child logger would have bound them.
  const line = {
    request_id: locals.requestId,
    ...(traceId === undefined ? {} : { trace_id: traceId }),
    method: req.method,
    path: req.originalUrl,
    status,
    duration_ms: Math.round(performance.now() - locals.arrivedAt),
    ...(status === CLIENT_GONE && !order ? { kind: 'client_gone' } : {}),
    ...(order ? orderFields(order) : {}),
  };
  log[level](line, messageFor(order?.kind, status, locals.streaming === true));
}

function orderFields({ client, orderId, tier, kind, steps, compensations, via }: OrderOutcome) {
  return {
    client,
    order_id: orderId,
    tier,
    kind,
    steps: named(steps),
    ...(compensations.length > 0 ? { compensations: named(compensations) } : {}),
    ...(via && via !== 'ran' ? { via } : {}),
  };
}
