/**
 * Per-client rate limits on POST /order, checked once the caller is known
 * and before its body is read: an order over its client's limit is answered
 * 429 rate_limited with Retry-After, and nothing of it is read or started.
 * Every order of a client with a limit carries the IETF rate-limit headers
 * (draft-ietf-httpapi-ratelimit-headers): its policy, `RateLimit-Policy:
 * "orders";q=100;w=1` (100 orders a window of 1 s), and what is left of it,
 * `RateLimit: "orders";r=42;t=1` (42 more, for 1 s more). Who counts, and
 * where the counts are kept, is the limiter's (the composition root's choice).
 */
import type { RequestHandler } from 'express';
import type { Responder } from '../wire/responses.js';

/** The name of the policy in the headers. */
const POLICY = 'orders';

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
    const seconds = Math.max(1, Math.ceil(decision.resetMs / 1000));
    res.setHeader('RateLimit-Policy', `"${POLICY}";q=${decision.limit};w=1`);
    res.setHeader('RateLimit', `"${POLICY}";r=${decision.remaining};t=${seconds}`);
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
