/**
 * The OpenAPI description of what is done to orders already sent: their
 * cancel, and the operator's views of them — GET /orders, GET
 * /orders/{order_id}/timeline and the console page over them.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { LISTED_STATES } from '../../orders/order-list.js';
import { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX } from '../routes/order-list-route.js';
import { orderStatusSchema } from '../wire/api-schemas.js';
import { orderListSchema, orderTimelineSchema } from '../wire/order-view-schemas.js';
import {
  ALLOW,
  changeRefused,
  error,
  forbidden,
  json,
  keylessLimited,
  methods,
  misdirected,
  RETRY_AFTER,
  unauthorized,
  unavailable,
  type Keyed,
  POLL_AFTER,
} from './shared.js';

/** POST /orders/{order_id}/cancel. */
export function registerOrderCancel(registry: OpenAPIRegistry, keyed: Keyed): void {
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
          ...POLL_AFTER,
          'Preference-Applied': {
            description: 'respond-async or wait=N, when the request’s Prefer asked for it (RFC 7240).',
            schema: { type: 'string' },
          },
        },
      },
      400: error('?client= is not one client name (kind bad_request).'),
      401: unauthorized,
      403: changeRefused("?client= names another client's order, which only the admin may cancel (kind forbidden)."),
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
}

export function registerOrderViews(registry: OpenAPIRegistry, keyed: Keyed): void {
  registry.registerPath({
    method: 'get',
    path: '/console',
    operationId: 'getConsolePage',
    tags: ['admin'],
    security: keyed,
    summary:
      "The operator's console: one self-contained HTML page that lists orders (GET /orders) and shows one's timeline, money, events and actions.",
    responses: {
      200: { description: 'HTML.', content: { 'text/html': { schema: z.string() } } },
      401: unauthorized,
      429: keylessLimited,
      403: forbidden,
      405: methods('Only GET and HEAD.'),
      421: misdirected,
    },
  });
  const client = z.string().optional().meta({
    description:
      "The admin: only this client's orders (every client's without). A client's key may name only itself: another is 403.",
  });
  registry.registerPath({
    method: 'get',
    path: '/orders',
    operationId: 'listOrders',
    tags: ['orders'],
    security: keyed,
    summary: "Orders, newest first, a page at a time: every client's for the admin, a client's own for its key.",
    description:
      'Keyset paging: `next` is the cursor of the page after this one, opaque and given to the caller only (the feed’s kind). Each order is listed once however many arrive while the list is paged — with DATABASE_URL, also when it ends meanwhile; in memory, one under way that ends while the list is paged may be left out. With DATABASE_URL the list reads an index of orders by when their latest run began, never the whole table.',
    request: {
      query: z.object({
        state: z.enum(LISTED_STATES).optional().meta({
          description:
            'A state of the order’s life (its `lifecycle`): running (under way, the resumed too), resumed, succeeded, failed, canceled, interrupted or dead_lettered; or done (ended, however). All without.',
          example: 'canceled',
        }),
        client,
        since: z
          .string()
          .optional()
          .meta({ description: 'Orders at or after this time (ISO 8601, years 0001–9999; `at`).' }),
        until: z
          .string()
          .optional()
          .meta({ description: 'Orders before this time (ISO 8601, years 0001–9999; `at`).' }),
        limit: z
          .int()
          .min(1)
          .max(LIST_LIMIT_MAX)
          .optional()
          .meta({ description: `Orders at most in the page (${LIST_LIMIT_DEFAULT} without).` }),
        cursor: z.string().optional().meta({ description: 'The `next` of the page before.' }),
      }),
    },
    responses: {
      200: { description: 'A page of orders.', content: json(orderListSchema) },
      400: error(
        'A query parameter unknown, repeated or out of range, or a cursor this caller was not given (kind bad_request).',
      ),
      401: unauthorized,
      403: error("A client's key naming another client (kind forbidden)."),
      429: keylessLimited,
      405: methods('Only GET and HEAD.'),
      421: misdirected,
      503: unavailable,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/orders/{order_id}/timeline',
    operationId: 'getOrderTimeline',
    tags: ['orders'],
    security: keyed,
    summary:
      'One order as the service recorded it: its steps with their threads, attempts and retries, why it failed, its money, its events.',
    request: {
      params: z.object({
        order_id: z.string().meta({ description: 'The order_id the order was sent with (URL-encoded).' }),
      }),
      query: z.object({ client }),
    },
    responses: {
      200: { description: 'The order.', content: json(orderTimelineSchema) },
      400: error('An unknown query parameter, or a path that is not percent-encoded UTF-8 (kind bad_request).'),
      401: unauthorized,
      403: error("A client's key naming another client (kind forbidden)."),
      404: error(
        "No record of this order_id among the caller's own orders (or the named client's, for the admin): never seen, forgotten, or another client's (kind not_found).",
      ),
      429: keylessLimited,
      405: methods('Only GET and HEAD.'),
      421: misdirected,
      503: unavailable,
    },
  });
}
