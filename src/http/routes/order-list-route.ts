/**
 * GET /orders?state=&client=&since=&until=&limit=&cursor=: orders, newest
 * first, a page at a time. The admin sees every client's (or one's, with
 * client=); a client sees its own, and naming another client is 403. The
 * cursor is the event feed's kind (src/events/feed-cursor.ts): opaque,
 * signed, and bound to the caller it was given to — under a name of its
 * own (`orders:<client>`), so that a list's cursor is never read as a
 * feed's, nor the other way round.
 */
import type { RequestHandler } from 'express';
import { CLIENT_NAME } from '../../auth/caller.js';
import type { FeedCursors } from '../../events/feed-cursor.js';
import { lifecycleOf } from '../../domain/lifecycle.js';
import { partsOfKey } from '../../domain/order.js';
import { LISTED_STATES, type ListedState, type OrderListQuery } from '../../orders/order-list.js';
import type { OrderRecords } from '../../orders/order-records.js';
import type { OrderListJson } from '../wire/order-view-schemas.js';
import { outcomeJson } from './order-status-route.js';
import { NO_STORE, type Responder } from '../wire/responses.js';

export const LIST_LIMIT_DEFAULT = 50;
export const LIST_LIMIT_MAX = 500;
const QUERY_FIELDS = ['state', 'client', 'since', 'until', 'limit', 'cursor'] as const;

/** What a list's cursors are bound to: never a feed's (a client's name has no colon). */
const cursorOwner = (client: string): string => `orders:${client}`;

/**
 * The times a list may be bounded by, in ms since the epoch: the years ISO 8601 writes with four digits. Date.parse
 * reads ±271,821 years, far beyond what Postgres keeps (4713 BC to 294276 AD), whose time out of range was a 500.
 */
const FIRST_TIME = Date.parse('0001-01-01T00:00:00Z');
const LAST_TIME = Date.parse('9999-12-31T23:59:59.999Z');

/** Whether `time` (undefined: none given) is one a list may be bounded by. */
const withinYears = (time: number | undefined): boolean =>
  time === undefined || (time >= FIRST_TIME && time <= LAST_TIME);

type Parsed = { readonly ok: true; readonly query: OrderListQuery } | { readonly ok: false; readonly why: string };

/** The list's query string, checked; `caller` reads it (its own orders only, unless it is the admin). */
export function parseListQuery(
  params: URLSearchParams,
  caller: { readonly client: string; readonly admin: boolean },
  cursors: FeedCursors,
): Parsed | 'forbidden' {
  for (const name of params.keys())
    if (!(QUERY_FIELDS as readonly string[]).includes(name))
      return { ok: false, why: `unknown query parameter "${name}": ${QUERY_FIELDS.join(', ')} are known` };
  for (const name of QUERY_FIELDS)
    if (params.getAll(name).length > 1) return { ok: false, why: `${name} may be given once` };
  const state = params.get('state') ?? undefined;
  if (state !== undefined && !(LISTED_STATES as readonly string[]).includes(state))
    return { ok: false, why: `state must be one of ${LISTED_STATES.join(', ')}` };
  const client = params.get('client') ?? undefined;
  if (client !== undefined && !CLIENT_NAME.test(client)) return { ok: false, why: 'client is not a client name' };
  if (!caller.admin && client !== undefined && client !== caller.client) return 'forbidden';
  const [since, until] = [params.get('since'), params.get('until')].map((text) =>
    text === null ? undefined : Date.parse(text),
  );
  if (!withinYears(since) || !withinYears(until))
    return {
      ok: false,
      why: 'since and until are times in ISO 8601 between the years 0001 and 9999 (2026-11-27T12:00:00Z)',
    };
  const rawLimit = params.get('limit');
  const limit = rawLimit === null ? LIST_LIMIT_DEFAULT : /^\d{1,4}$/.test(rawLimit) ? Number(rawLimit) : NaN;
  if (!(limit >= 1 && limit <= LIST_LIMIT_MAX))
    return { ok: false, why: `limit must be an integer from 1 to ${LIST_LIMIT_MAX}` };
  let after: readonly number[] = [];
  const cursor = params.get('cursor');
  if (cursor !== null) {
    const reading = cursors.read(cursor, cursorOwner(caller.client));
    if (!reading.ok)
      return {
        ok: false,
        why:
          reading.why === 'expired'
            ? 'cursor was made before the service restarted: list again from the start'
            : 'cursor is not one this service gave you (send the `next` of a previous page, or leave it out)',
      };
    after = reading.after;
  }
  return {
    ok: true,
    query: {
      client: caller.admin ? client : caller.client,
      state: state as ListedState | undefined,
      since,
      until,
      after,
      limit,
      reader: caller.client,
    },
  };
}

export function orderListRoute(
  records: Pick<OrderRecords, 'list'>,
  cursors: FeedCursors,
  responder: Responder,
): RequestHandler {
  return async (req, res) => {
    const { caller } = res.locals;
    // The app parses no query string (it costs every order); this route reads its own.
    const parsed = parseListQuery(new URL(req.originalUrl, 'http://localhost').searchParams, caller, cursors);
    if (parsed === 'forbidden')
      return responder.error(res, 'forbidden', "a client's key lists its own orders only: leave client out");
    if (!parsed.ok) return responder.error(res, 'bad_request', parsed.why);
    const page = await records.list(parsed.query);
    const body: OrderListJson = {
      orders: page.orders.map((order) => {
        const { client, orderId } = partsOfKey(order.key);
        return {
          order_id: orderId,
          client,
          state: order.state,
          outcome: outcomeJson(order.outcome),
          runs: order.runs,
          ...(order.tier ? { tier: order.tier } : {}),
          lifecycle: lifecycleOf(order.state, order.outcome, order.resumed),
          at: new Date(order.at).toISOString(),
        };
      }),
      next: page.next ? cursors.cursorOf(cursorOwner(caller.client), page.next) : null,
    };
    responder.json(res, 200, body, NO_STORE);
  };
}
