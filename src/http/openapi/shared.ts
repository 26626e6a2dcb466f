/**
 * What the OpenAPI document's areas share: the content and error helpers, the
 * headers several answers carry, the answers every operation may give (no
 * key, a key without the right, a Host not served, a keyless flood, a change
 * asked by a page of another origin), and who
 * the document says may call what.
 */
import type { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { TIERS } from '../../domain/tier.js';
import { errorResponseSchema, orderFailedSchema } from '../wire/api-schemas.js';
import { PROBLEM_JSON, problemSchema } from '../wire/problem-details.js';

export type Document = ReturnType<OpenApiGeneratorV31['generateDocument']>;
/** The security requirements of an operation that needs a key. */
export type Keyed = Array<Record<string, string[]>>;

export const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });
export const error = (
  description: string,
  headers?: Record<string, { description: string; schema: { type: 'string' } }>,
) => ({
  description,
  content: { ...json(errorResponseSchema), [PROBLEM_JSON]: { schema: problemSchema } },
  ...(headers ? { headers } : {}),
});
export const orderFailure = (description: string) => ({ description, content: json(orderFailedSchema) });
export const RETRY_AFTER = {
  'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'string' as const } },
};
/** A 202's: when to look at its Location first. */
export const POLL_AFTER = {
  'Retry-After': {
    description: 'Seconds to wait before looking at the Location (GET /orders/{order_id}): poll no sooner.',
    required: true,
    schema: { type: 'string' as const },
    example: '1',
  },
};
/** A read refused before routing while the main thread runs late (src/http/guards/late-reads.ts). */
export const LATE_READ =
  'the main thread runs late and the orders in flight come first (a read refused before routing: overloaded, with Retry-After and Connection: close)';
export const RATE_LIMIT = {
  'RateLimit-Policy': {
    description:
      'The client\'s rate limit (draft-ietf-httpapi-ratelimit-headers): `"orders";q=100;w=1` — 100 orders a window of 1 s (CLIENT_RATE_LIMIT, CLIENT_RATE_LIMITS), on every POST /order of a client with a limit; `"requests";q=500;w=1` — its budget of 500 requests a window on every other route (CLIENT_REQUEST_RATE_LIMIT), on each of them.',
    schema: { type: 'string' as const },
  },
  RateLimit: {
    description:
      'What is left of it: `"orders";r=42;t=1` — 42 more orders in this window, which ends within 1 s; likewise `"requests";r=…`.',
    schema: { type: 'string' as const },
  },
};
export const ORDER_TIER = {
  'Order-Tier': {
    description:
      "The priority tier the order ran at (critical, standard, free): its client's (CLIENT_TIERS, or its key's), or the lower one its request's Order-Tier asked for. On every answer to an order that was decoded.",
    schema: { type: 'string' as const, enum: [...TIERS] },
  },
};
export const ALLOW = { Allow: { description: 'The methods the path accepts.', schema: { type: 'string' as const } } };
export const REPLAYED = {
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
export const unauthorized = error(
  'No API key, or one that was never issued or has been revoked (kind unauthorized).',
  CHALLENGE,
);
/**
 * What a request gets past its client's budget (src/http/guards/rate-limit.ts), or, with no key, past its address's
 * rate (src/http/guards/unauthenticated-meter.ts).
 */
export const KEYLESS_LIMITED =
  'Past its client\'s budget of requests besides its orders (CLIENT_REQUEST_RATE_LIMIT, 500 a second by default with keys; with the RateLimit headers of its "requests" policy), or without a valid API key past 100 requests a second from one address (kind rate_limited): answered once that second is over, with Retry-After; the probes are never limited.';
export const keylessLimited = error(KEYLESS_LIMITED, { ...RETRY_AFTER, ...RATE_LIMIT });
export const webhookChangeLimited = error(
  `The client created or deleted 100 webhook endpoints this minute already (kind rate_limited): nothing was changed; retry after Retry-After. ${KEYLESS_LIMITED}`,
  RETRY_AFTER,
);
export const misdirected = error(
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
export const SECURITY: Record<DocumentedAccess, Keyed> = {
  keys: [{ bearer: [] }, { basic: [] }],
  open: [],
  either: [{ bearer: [] }, { basic: [] }, {}],
};
export const FORBIDDEN = "A client's key where the admin key is needed (kind forbidden).";
export const forbidden = error(FORBIDDEN);
/** Why any request that changes state may be refused 403 (src/http/guards/cross-site.ts). */
const CROSS_SITE =
  "The browser says a page of another origin made the request — Sec-Fetch-Site same-site or cross-site, or, without it, an Origin other than this service's host and port — refused whatever the key (kind cross_site_request): requests that change anything are taken from the service's own pages (same-origin) and from API clients, which send neither header.";
/** The 403 of an operation that changes state: for a page of another origin, and for `forbidden` if it says one. */
export const changeRefused = (forbidden?: string) =>
  error(forbidden === undefined ? CROSS_SITE : `${forbidden} Or: ${CROSS_SITE}`);

/** A 405: only `allowed`. */
export const methods = (allowed: string) => error(allowed, ALLOW);
/** A read's 503: no connection, shutting down, Postgres busy or gone. */
export const unavailable = error(
  `Too many connections are open (overloaded, with Retry-After), ${LATE_READ}, the event loop runs late and the client sent far more than its share of the requests of the last second (overloaded, with Retry-After, answered once a second has passed), or the server is shutting down (shutting_down, with Retry-After). With DATABASE_URL also: too many reads wait for the reads' own connections to Postgres (overloaded, with Retry-After), or Postgres cannot be reached (store_unavailable, with Retry-After).`,
  RETRY_AFTER,
);

export function registerSecuritySchemes(registry: OpenAPIRegistry): void {
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
