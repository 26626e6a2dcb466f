/**
 * GET /events?after=<cursor>&limit=<n>: the caller's events, oldest first,
 * with the cursor of the next page — how a client that was down catches up.
 * Only the caller's own; a cursor given to another client, or one the
 * service never gave, is 400. A cursor behind events no longer kept is 410
 * Gone, `events_gone`, with the cursor that reads what is (client-events.ts
 * says why a gap is an error and not a page). POST /admin/events/{id}/redeliver sends one
 * event again to its client's enabled endpoints (the admin), audited as every admin's act is.
 */
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { FEED_LIMIT_DEFAULT, FEED_LIMIT_MAX, type ClientEvents } from '../../events/client-events.js';
import { audit } from '../../observability/logging.js';
import { auditActor } from '../guards/authorization.js';
import type { EventPageJson } from '../wire/api-schemas.js';
import { NO_STORE, type Responder } from '../wire/responses.js';

const QUERY_FIELDS = new Set(['after', 'limit']);

export function eventFeed(events: ClientEvents, responder: Responder): RequestHandler {
  return async (req, res) => {
    // The app parses no query string (it costs every order); this route reads its own.
    const query = new URL(req.originalUrl, 'http://localhost').searchParams;
    for (const name of query.keys())
      if (!QUERY_FIELDS.has(name))
        return responder.error(res, 'bad_request', `unknown query parameter "${name}": after and limit are known`);
    if (query.getAll('after').length > 1 || query.getAll('limit').length > 1)
      return responder.error(res, 'bad_request', 'after and limit may each be given once');
    const rawLimit = query.get('limit');
    const limit = rawLimit === null ? FEED_LIMIT_DEFAULT : /^\d{1,4}$/.test(rawLimit) ? Number(rawLimit) : NaN;
    if (!(limit >= 1 && limit <= FEED_LIMIT_MAX))
      return responder.error(res, 'bad_request', `limit must be an integer from 1 to ${FEED_LIMIT_MAX}`);
    const page = await events.page(res.locals.caller.client, query.get('after') ?? undefined, limit);
    if (page.kind === 'bad_cursor') return responder.error(res, 'bad_request', page.why);
    if (page.kind === 'gap')
      return responder.error(
        res,
        'events_gone',
        'some of your events after this cursor are no longer kept (EVENTS_MAX, EVENT_RETENTION_DAYS, or a restart in memory): GET /orders/{order_id} tells what became of the orders they reported; `next` reads what is kept, from its oldest event',
        NO_STORE,
        { next: page.next },
      );
    const body: EventPageJson = { events: page.events, next: page.next, has_more: page.hasMore };
    responder.json(res, 200, body, NO_STORE);
  };
}

export function redeliverEvent(
  events: ClientEvents,
  responder: Responder,
  log: Logger,
): RequestHandler<{ id: string }> {
  return async (req, res) => {
    const redelivered = await events.redeliver(req.params.id);
    if (!redelivered) return responder.error(res, 'not_found', `no event ${req.params.id} is kept`);
    const { event, deliveries } = redelivered;
    // Another client's endpoints are sent what they were sent before: whoever did it is on record, as for a cancel.
    audit(
      log,
      'info',
      {
        audit: 'event_redelivered',
        ...auditActor(res.locals.caller),
        event_id: event.id,
        event_type: event.type,
        client: event.client,
        order_id: event.data.order_id,
        deliveries,
      },
      'event sent again at the admin’s request',
    );
    responder.json(res, 202, redelivered, NO_STORE);
  };
}
