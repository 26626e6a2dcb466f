/**
 * Per-client rate limits, checked once the caller is known: its orders on
 * POST /order, before the body is read — an order over its client's limit is
 * answered 429 rate_limited with Retry-After at once, and nothing of it is
 * read or started — and its requests on every other route (`requestBudget`),
 * where a request over the budget waits until its client's second ends and
 * is answered 429 then, its connection kept: a client that sends its next
 * request as soon as the last is answered, as a flood does, then sends one a
 * second on each connection, where it sent as many as the event loop could
 * answer (a keyed flood of GET /orders/x on 1,000 connections left another
 * client 0 of 24 orders). Every request counted carries the IETF rate-limit
 * headers (draft-ietf-httpapi-ratelimit-headers): its policy,
 * `RateLimit-Policy: "orders";q=100;w=1` (100 orders a window of 1 s), and
 * what is left of it, `RateLimit: "orders";r=42;t=1` (42 more, for 1 s more);
 * the budget's policy is "requests". Who counts, and where the counts are
 * kept, is the limiter's (the composition root's choice).
 */
import type { RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { Responder } from '../wire/responses.js';

/** The name of the policy in the headers. */
const POLICY = 'orders';
/** The name of the budget's policy. */
const BUDGET = 'requests';
/** A client's next line about its requests over the budget comes this long after its last, at the soonest. */
const NOTICE_MS = 10_000;

/** What a client's limit says of one more order. */
export interface RateDecision {
  /** Orders a second the client may send. */
  readonly limit: number;
  readonly allowed: boolean;
  /** Orders it may still send in this window. */
  readonly remaining: number;
  /** Milliseconds until the window ends. */
  readonly resetMs: number;
  /** Set when this instance counted the order alone, its shared count not had within this many milliseconds. */
  readonly countedAloneAfterMs?: number;
}

export interface ClientRateLimiter {
  /**
   * Count one order of `client`; undefined when it has no limit (or its counts cannot be had: then it is let through).
   */
  take(client: string): Promise<RateDecision | undefined>;
}

/** `limited`: told of each order refused, by client. */
export function rateLimit(
  limiter: ClientRateLimiter,
  responder: Responder,
  limited: (client: string) => void,
): RequestHandler {
  return async (_req, res, next) => {
    const { client } = res.locals.caller;
    const decision = await limiter.take(client);
    if (!decision) return next();
    // The limit may be passed by what each instance counts alone: said per order, with its request and trace ids.
    if (decision.countedAloneAfterMs !== undefined)
      res.locals.log.warn(
        { client, timeout_ms: decision.countedAloneAfterMs },
        'rate limit counted by this instance alone: the primary did not answer in time',
      );
    const seconds = rateHeaders(res, POLICY, decision);
    if (decision.allowed) return next();
    limited(client);
    responder.error(
      res,
      'rate_limited',
      `client ${client} may send ${decision.limit} orders a second (CLIENT_RATE_LIMIT); nothing of this one was read or started; retry in ${seconds} s`,
      {
        'Retry-After': String(seconds),
      },
    );
  };
}

/** The policy's headers of `decision` on `res`; the seconds left of its window. */
function rateHeaders(res: Response, policy: string, decision: RateDecision): number {
  const seconds = Math.max(1, Math.ceil(decision.resetMs / 1000));
  res.setHeader('RateLimit-Policy', `"${policy}";q=${decision.limit};w=1`);
  res.setHeader('RateLimit', `"${policy}";r=${decision.remaining};t=${seconds}`);
  return seconds;
}

/**
 * A request of a known client on any route but POST /order, counted against its budget (CLIENT_REQUEST_RATE_LIMIT):
 * within it, on its way; past it, answered 429 once its client's window ends — its line left out, a warning line per
 * client every NOTICE_MS says how many were. `limited`: told of each one answered so.
 */
export function requestBudget(
  limiter: ClientRateLimiter,
  responder: Responder,
  log: Logger,
  limited: (client: string) => void,
): (client: string, res: Response, next: () => void) => void {
  const unsaid = new Map<string, { at: number; count: number }>();
  const notice = (client: string, limit: number): void => {
    const now = performance.now();
    const last = unsaid.get(client);
    if (last && now - last.at < NOTICE_MS) return void last.count++;
    unsaid.set(client, { at: now, count: 0 });
    log.warn(
      { client, refused: 1 + (last?.count ?? 0), limit },
      'requests of a client over its budget (CLIENT_REQUEST_RATE_LIMIT): answered 429 once its second ends',
    );
  };
  return (client, res, next) => {
    void limiter.take(client).then((decision) => {
      if (!decision) return next();
      const seconds = rateHeaders(res, BUDGET, decision);
      if (decision.allowed) return next();
      limited(client);
      notice(client, decision.limit);
      res.locals.quiet = true;
      setTimeout(() => {
        if (res.writableEnded || res.destroyed) return;
        responder.error(
          res,
          'rate_limited',
          `client ${client} may send ${decision.limit} requests a second besides its orders (CLIENT_REQUEST_RATE_LIMIT); this one was held to its second's end and not served; retry in ${seconds} s`,
          { 'Retry-After': String(seconds) },
        );
      }, decision.resetMs).unref();
    });
  };
}
