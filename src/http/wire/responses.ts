/**
 * Every response this service writes goes through here: JSON bodies, their
 * status from the kind table, and `Connection: close` while the server
 * drains, so that no client keeps a connection to a server that is going
 * away — and when the answer leaves a long body unread (see below). Errors
 * become RFC 9457 problem details for a request that prefers them
 * (src/http/wire/problem-details.ts). An order's outcome is never to be kept by a
 * cache (`Cache-Control: no-store`): it carries money; nor is an error.
 */
import type { Lifecycle } from '../../domain/lifecycle.js';
import type { IncomingMessage } from 'node:http';
import type { Response } from 'express';
import { DEPENDENCIES } from '../../domain/dependencies.js';
import type { ErrorKind } from '../../domain/errors.js';
import type { OrderResult } from '../../pipeline/order-pipeline.js';
import type { StepOutcome } from '../../pipeline/steps.js';
import type { ErrorResponse, StepJson } from './api-schemas.js';
import { MAX_BODY_BYTES } from './body-reader.js';
import { orderResponseText } from './order-json.js';
import { STATUS_BY_KIND } from './error-status.js';
import { PROBLEM_JSON, prefersProblem, problem } from './problem-details.js';
import { requestIdOf, type FlatHeaders } from './response-headers.js';

/** What a request turned away by the drain is told, wherever it meets it. */
export const SHUTTING_DOWN_MESSAGE = 'the server is shutting down; retry on another instance';

/** Seconds a client should wait before retrying an answer that says so. */
const RETRY_AFTER_SECONDS: Partial<Record<ErrorKind, number>> = {
  overloaded: 1,
  shutting_down: 1,
  thread_lost: 1,
  interrupted: 1,
  outcome_unknown: 1,
  store_unavailable: 1,
};

/** The status an order's outcome is answered with. */
export function statusOf(result: OrderResult): number {
  return result.failure ? STATUS_BY_KIND[result.failure] : 200;
}

export interface ResponseOptions {
  /** True while the server drains: every response then closes its connection. */
  readonly draining: () => boolean;
  /**
   * For a dependency's unavailable kind (payment_unavailable, vendor_unavailable, no_courier): seconds until a retry
   * may find it back, when its breaker is open or an outage of it is known; undefined when nothing says it is
   * temporary. Without: never known.
   */
  readonly dependencyRetryAfter?: (kind: ErrorKind) => number | undefined;
}

/** A header's value, or its values when it is sent more than once (each its own line). */
type HeaderValues = string | readonly string[];

const NO_HEADERS: Readonly<Record<string, string>> = {};
const JSON_UTF8 = 'application/json; charset=utf-8';

/** Set on every answer that carries an order or money: no cache, shared or private, may keep it. */
export const NO_STORE = { 'Cache-Control': 'no-store' } as const;

/**
 * An order as GET /orders/{order_id} tells it, to be polled: no shared cache may keep another's money (`private`),
 * and a client's own asks again every time (`no-cache`), told 304 while its ETag still names it — never a stale state.
 */
export const POLLED = { 'Cache-Control': 'private, no-cache' } as const;

/** Seconds a client told 202 waits before it looks at the Location again. */
const POLL_AFTER_SECONDS = 1;

/** A 202's headers: never kept, where the order's end will be told, and when to look there first. */
export function acceptedHeaders(orderId: string): Readonly<Record<string, string>> {
  return {
    ...NO_STORE,
    Location: `/orders/${encodeURIComponent(orderId)}`,
    'Retry-After': String(POLL_AFTER_SECONDS),
  };
}

export class Responder {
  constructor(private readonly options: ResponseOptions) {}

  json(
    res: Response,
    status: number,
    body: unknown,
    headers: Readonly<Record<string, HeaderValues>> = {},
    contentType = 'application/json',
  ): void {
    // Written straight to Node's response: Express's res.json() would also
    // look for ETag freshness, a quarter of Express's cost per order here.
    this.text(res, status, JSON.stringify(body), headers, contentType);
  }

  /** A body already serialized, of a JSON `contentType`. */
  text(
    res: Response,
    status: number,
    text: string,
    headers: Readonly<Record<string, HeaderValues>> = NO_HEADERS,
    contentType = 'application/json',
  ): void {
    // The head in one list (src/http/wire/response-headers.ts): none of it is kept in the response.
    const head: FlatHeaders = [];
    for (const name in headers) {
      const values = headers[name]!;
      if (typeof values === 'string') head.push(name, values);
      else for (const value of values) head.push(name, value);
    }
    if (this.options.draining() || leavesLongBodyUnread(res.req)) head.push('Connection', 'close');
    head.push(
      'Content-Type',
      contentType === 'application/json' ? JSON_UTF8 : `${contentType}; charset=utf-8`,
      'Content-Length',
      Buffer.byteLength(text),
    );
    res.writeHead(status, head);
    res.end(res.req.method === 'HEAD' ? undefined : text);
  }

  /** 304: the copy the client has is current; `headers` are its ETag and caching, said again (RFC 9110 §15.4.5). */
  notModified(res: Response, headers: Readonly<Record<string, string>>): void {
    res.writeHead(304, this.options.draining() ? { ...headers, Connection: 'close' } : headers);
    res.end();
  }

  /**
   * An error, which no cache may keep either: a 400 or a 503 of POST /order may be an order's outcome or a plain error.
   * `next`: where a client resumes (events_gone's cursor); `lifecycle`: where an order is in its life (a cancel or a
   * redrive refused); beside the error in either shape.
   */
  error(
    res: Response,
    kind: ErrorKind,
    message: string,
    headers: Readonly<Record<string, HeaderValues>> = {},
    { next, lifecycle }: { readonly next?: string; readonly lifecycle?: Lifecycle } = {},
  ): void {
    const all = { ...NO_STORE, ...retryAfter(kind), ...headers };
    const extra = { ...(next === undefined ? {} : { next }), ...(lifecycle === undefined ? {} : { lifecycle }) };
    if (prefersProblem(res.req.headers.accept))
      return this.json(
        res,
        STATUS_BY_KIND[kind],
        problem(kind, message, requestIdOf(res) ?? '', extra),
        all,
        PROBLEM_JSON,
      );
    const body: ErrorResponse = { status: 'error', error: { kind, message }, ...extra };
    this.json(res, STATUS_BY_KIND[kind], body, all);
  }

  /** `headers`: besides Cache-Control and a failure's Retry-After. */
  order(res: Response, result: OrderResult, headers?: Readonly<Record<string, string>>): void {
    // The answer of nearly every order: headers as they are, the body written straight from the result.
    if (!result.failure)
      return this.text(res, 200, orderResponseText(result), headers ? { ...NO_STORE, ...headers } : NO_STORE);
    const all = { ...NO_STORE, ...this.retryAfterOf(result), ...headers };
    if (result.failure && prefersProblem(res.req.headers.accept)) {
      const extensions = {
        order_id: result.orderId,
        steps: result.steps.map(stepJson),
        ...(result.compensations.length > 0 ? { compensations: result.compensations.map(stepJson) } : {}),
      };
      const body = problem(result.failure, 'order failed', requestIdOf(res) ?? '', extensions);
      return this.json(res, statusOf(result), body, all, PROBLEM_JSON);
    }
    this.text(res, statusOf(result), orderResponseText(result), all);
  }

  /**
   * A failed order's Retry-After: its kind's own, or for a dependency's unavailable kind, when the dependency is
   * known to be out (its breaker, an outage switched on) or its step found it unavailable (an outage, not the order's
   * asking). A step that failed as the order asked (fail_step) says nothing temporary, and gets none.
   */
  private retryAfterOf(result: OrderResult): Record<string, string> {
    const kind = result.failure!;
    const own = retryAfter(kind);
    if (own['Retry-After'] || !DEPENDENCY_KINDS.has(kind)) return own;
    const known = this.options.dependencyRetryAfter?.(kind);
    if (known !== undefined) return { 'Retry-After': String(known) };
    const outage = result.steps.some((step) => step.status === 'error' && step.dependency === 'failed');
    return outage ? { 'Retry-After': '1' } : {};
  }
}

/** The kinds a dependency's step fails with when the dependency does not answer. */
const DEPENDENCY_KINDS: ReadonlySet<ErrorKind> = new Set(DEPENDENCIES.map((dependency) => dependency.unavailable));

/**
 * An answer given before the request's body has arrived (413, 415, 404…)
 * leaves Node to read and discard the rest of it before the next request on
 * the connection: without end for a chunked body, or one longer than any
 * this service reads. Such an answer closes the connection instead.
 */
function leavesLongBodyUnread(req: IncomingMessage): boolean {
  if (req.complete) return false;
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES;
}

function retryAfter(kind: ErrorKind): Record<string, string> {
  const seconds = RETRY_AFTER_SECONDS[kind];
  return seconds === undefined ? {} : { 'Retry-After': String(seconds) };
}

/** A step as the API says it, field by field (a problem document's `steps`; what order-json.ts writes straight). */
export function stepJson(step: StepOutcome): StepJson {
  return {
    name: step.name,
    status: step.status,
    duration_ms: step.durationMs,
    ...(step.threadId !== undefined ? { thread_id: step.threadId } : {}),
    ...(step.status === 'error' ? { detail: step.kind } : {}),
    ...(step.status === 'canceled' ? { detail: `canceled: ${step.cause}` } : {}),
    ...(step.threadFate ? { thread_fate: step.threadFate } : {}),
    ...(step.attempts > 1 ? { attempts: step.attempts } : {}),
    ...(step.retries ? { retries: step.retries } : {}),
  };
}
