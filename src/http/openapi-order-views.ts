/**
 * The OpenAPI description of the operator's views of orders: GET /orders and
 * GET /orders/{order_id}/timeline — and of the admin's redrive of an order. Its own file, handed the document's
 * shared responses by src/http/openapi.ts (which calls it), so the two never
 * import each other.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { LISTED_STATES } from '../orders/order-list.js';
import { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX } from './order-list-route.js';
import { orderListSchema, orderTimelineSchema } from './order-view-schemas.js';
import { orderStatusSchema } from './api-schemas.js';

type Response = Record<string, unknown>;

/** What the document shares with these paths: its error responses and content helper. */
export interface SharedResponses {
  readonly json: (schema: z.ZodType) => Record<string, { schema: z.ZodType }>;
  readonly error: (description: string) => Response;
  readonly unauthorized: Response;
  readonly keylessLimited: Response;
  readonly misdirected: Response;
  readonly methods: (allowed: string) => Response;
  readonly unavailable: Response;
  /** A client's key where the admin key is needed. */
  readonly forbidden: Response;
}

export function registerOrderViews(
  registry: OpenAPIRegistry,
  keyed: Array<Record<string, string[]>>,
  shared: SharedResponses,
): void {
  const { json, error, unauthorized, keylessLimited, misdirected, methods, unavailable, forbidden } = shared;
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
          description: 'running, done (ended, however), succeeded, or failed; all without.',
        }),
        client,
        since: z.string().optional().meta({ description: 'Orders at or after this time (ISO 8601; `at`).' }),
        until: z.string().optional().meta({ description: 'Orders before this time (ISO 8601; `at`).' }),
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
  registry.registerPath({
    method: 'post',
    path: '/admin/orders/{order_id}/redrive',
    operationId: 'redriveOrder',
    tags: ['admin'],
    security: keyed,
    summary:
      'Send on an order parked dead_lettered, or failed by the infrastructure, as a new run from its first unfinished step (durable mode; audited).',
    description:
      'The admin only. An order whose outcome is dead_lettered, interrupted, thread_lost, shutting_down, store_unavailable or outcome_unknown, and whose last run holds no money (charged all refunded), is begun again as a new run on this instance: its steps recorded ok that moved no money (vendor, courier) stand as recorded; the payment, undone with the run before, runs again under the new run’s key. It ends as any run, with its events. In memory nothing is kept to redrive: 409 not_redrivable.',
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
        headers: { Location: { description: 'GET /orders/{order_id} of the order.', schema: { type: 'string' } } },
      },
      400: error('?client= is not one client name (kind bad_request).'),
      401: unauthorized,
      403: forbidden,
      404: error('No record of this order_id for the client (kind not_found).'),
      405: methods('POST'),
      409: error(
        'Its last run holds money not refunded (kind money_unsettled): it is settled first; or the order is running or ended otherwise than parked or failed by the infrastructure, or the service keeps its orders in memory (kind not_redrivable). `lifecycle` says where it is.',
      ),
      421: misdirected,
      429: keylessLimited,
      503: unavailable,
    },
  });
}
