/**
 * The headers every response carries — those of its kind of answer (HEADERS_OF, the one table of them), the
 * request's X-Request-Id and traceresponse, and any a route defers (an order's Order-Tier) — are written with the
 * response's head, not set when the request arrives.
 *
 * Set on arrival, as helmet's middleware does, each was a [name, value] array
 * in a dictionary of the response's own, kept for as long as the response
 * waited: an order's answer waits for its steps, so 5,000 orders in flight
 * held 75,000 of them (heap snapshots of the main thread). Now helmet runs once, at start, and its headers are one
 * list shared by every page; an answer that sets no header of its own
 * before its head (an order's, src/http/wire/responses.ts) hands Node one flat
 * list, which Node writes straight into the head.
 *
 * Headers a route sets itself win over the shared ones (the threads page's
 * Content-Security-Policy over helmet's); either way a name goes out once.
 */
import { ServerResponse } from 'node:http';
import type { Express, RequestHandler, Response } from 'express';
import helmet from 'helmet';

/** Header names and values, one after the other, as Node's writeHead takes them. */
export type FlatHeaders = (string | number)[];

type HeaderValue = number | string | readonly string[];
type HeadersGiven = Record<string, HeaderValue | undefined> | FlatHeaders | undefined;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** Headers a route has for its answer, written with the head (`deferHeader`). */
      deferredHeaders?: FlatHeaders;
      /** The kind of answer, if not an API's (`answerAs`). */
      answerKind?: AnswerKind;
    }
  }
}

/**
 * The headers a middleware such as helmet sets on every response, recorded once: the middleware is run against a
 * response that only records. Throws if it does anything but set and remove headers, or fails.
 */
export function headersSetBy(middleware: RequestHandler): FlatHeaders {
  const recorded = new Map<string, [string, string]>();
  const recorder = {
    setHeader(name: string, value: HeaderValue): void {
      recorded.set(name.toLowerCase(), [name, String(value)]);
    },
    removeHeader(name: string): void {
      recorded.delete(name.toLowerCase());
    },
  };
  let failure: unknown;
  let called = false;
  middleware({} as never, recorder as never, (error?: unknown) => {
    called = true;
    failure = error;
  });
  if (!called || failure !== undefined)
    throw new Error('a shared header middleware must set its headers and call next at once', { cause: failure });
  return [...recorded.values()].flat();
}

/** An API's answer (JSON, problem details, a metrics scrape, an event stream), or a page a browser shows. */
export type AnswerKind = 'api' | 'page';

/**
 * Which headers each kind of answer carries beside its own: the one table of them (test/unit/response-headers.test.ts
 * holds it). A page gets helmet's, which are about what a browser may do with a document: its framing, its scripts, its
 * referrer, its opener, HSTS for the site it comes from. An API's answer is data its client reads, never rendered: it
 * needs only that a browser never takes it for something else (`nosniff`); what may keep it (Cache-Control) each route
 * says for its own (src/http/wire/responses.ts).
 */
export const HEADERS_OF: Readonly<Record<AnswerKind, FlatHeaders>> = {
  api: ['X-Content-Type-Options', 'nosniff'],
  page: headersSetBy(
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    }),
  ),
};

/** This answer is a page: it carries a page's headers (HEADERS_OF). */
export function answerAs(res: Response, kind: AnswerKind): void {
  res.locals.answerKind = kind;
}

/** A header for the answer to this request, written with its head (not kept in the response until then). */
export function deferHeader(res: Response, name: string, value: string): void {
  const deferred = res.locals.deferredHeaders;
  // A list begun with its first pair, not pushed into: pushing into an empty array keeps room for 18.
  if (!deferred) return void (res.locals.deferredHeaders = [name, value]);
  // Deferred again: the later value stands (a replay's Order-Tier, the tier its run ran at).
  const at = deferred.indexOf(name);
  if (at >= 0 && at % 2 === 0) deferred[at + 1] = value;
  else deferred.push(name, value);
}

/** The request's id, as its X-Request-Id will say (or says). */
export function requestIdOf(res: ServerResponse): string | undefined {
  return (res as Partial<Response>).locals?.requestId;
}

// Called with each response as `this` (Reflect.apply below), as Node's own prototype method.
// eslint-disable-next-line @typescript-eslint/unbound-method
const writeHead = ServerResponse.prototype.writeHead;

/** Every response of `app` writes its kind's headers (HEADERS_OF) and the request's own with its head. */
export function writeSharedHeaders(app: Express): void {
  const sharedNames = new Set<string>();
  for (const shared of Object.values(HEADERS_OF))
    for (let i = 0; i < shared.length; i += 2) sharedNames.add(String(shared[i]).toLowerCase());

  function writeHeadWithShared(
    this: Response,
    status: number,
    reasonOrHeaders?: string | HeadersGiven,
    maybeHeaders?: HeadersGiven,
  ): Response {
    const reason = typeof reasonOrHeaders === 'string' ? reasonOrHeaders : undefined;
    const { locals } = this;
    const shared = HEADERS_OF[locals?.answerKind ?? 'api'];
    const own: FlatHeaders = [];
    if (locals?.requestId !== undefined) own.push('X-Request-Id', locals.requestId);
    if (locals?.requestSpan) own.push('traceresponse', locals.requestSpan.traceresponse);
    const chosenFrom = own.length;
    if (locals?.deferredHeaders) for (const item of locals.deferredHeaders) own.push(item);
    addFlat(own, typeof reasonOrHeaders === 'string' ? maybeHeaders : reasonOrHeaders);
    // Names the route chose itself, set already or given now: the shared value of one gives way. An order's answer
    // has none, and makes no set for them.
    const set = this.getHeaderNames();
    let chosen = set.length > 0 ? new Set(set) : undefined;
    for (let i = chosenFrom; i < own.length; i += 2) {
      const name = String(own[i]).toLowerCase();
      if (sharedNames.has(name)) (chosen ??= new Set()).add(name);
    }
    const head = chosen === undefined ? shared.concat(own) : withoutNames(shared, chosen).concat(own);
    return Reflect.apply(writeHead, this, reason === undefined ? [status, head] : [status, reason, head]) as Response;
  }
  app.response.writeHead = writeHeadWithShared as typeof app.response.writeHead;
}

function addFlat(list: FlatHeaders, headers: HeadersGiven): void {
  if (headers === undefined) return;
  if (Array.isArray(headers)) {
    for (const item of headers) list.push(item);
    return;
  }
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'object') for (const one of value) list.push(name, one);
    else list.push(name, value);
  }
}

function withoutNames(headers: FlatHeaders, names: ReadonlySet<string>): FlatHeaders {
  const kept: FlatHeaders = [];
  for (let i = 0; i < headers.length; i += 2)
    if (!names.has(String(headers[i]).toLowerCase())) kept.push(headers[i]!, headers[i + 1]!);
  return kept;
}
