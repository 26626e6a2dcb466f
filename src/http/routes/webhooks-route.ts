/**
 * POST /webhooks, GET /webhooks, DELETE /webhooks/{id}: a client's own
 * webhook endpoints. The secret is in the answer to the POST only; the list
 * never shows it. Another client's endpoint is as unknown as one never
 * registered (404). A URL that is not a URL, is not https, does not resolve,
 * or resolves to an address webhooks may not reach (src/events/target-guard.ts)
 * is 400; past WEBHOOKS_PER_CLIENT, 409. Creating and deleting are metered
 * per client (CHANGES_PER_MINUTE, before the body is read): a script that
 * sets up its endpoints in one go is never refused, a loop is: each creation
 * costs a DNS look-up, and each change is told to the delivery thread —
 * unmetered, one client made 1,214 create-and-delete cycles in 3 s. The
 * URL is logged without its query string, which may carry a receiver's
 * token.
 */
import type { RequestHandler } from 'express';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { z } from 'zod';
import type { ClientEvents } from '../../events/client-events.js';
import type { WebhookEndpoint } from '../../events/webhook-endpoints.js';
import type { WebhookJson } from '../wire/api-schemas.js';
import { readBody } from '../wire/body-reader.js';
import { describeIssues, parseJsonObject, requireJson } from '../wire/json-body.js';
import { NO_STORE, type Responder } from '../wire/responses.js';

export const webhookBodySchema = z
  .strictObject({
    url: z.string().meta({
      description:
        'Where events are POSTed: https, resolving to a public address (WEBHOOK_ALLOW_PRIVATE_TARGETS=on also allows http and private addresses).',
    }),
  })
  .meta({ id: 'WebhookRequest' });

export function webhookJson(endpoint: WebhookEndpoint): WebhookJson {
  return {
    id: endpoint.id,
    url: endpoint.url,
    status: endpoint.disabled ? 'disabled' : 'enabled',
    disabled_reason: endpoint.disabled ?? null,
    created_at: endpoint.createdAt.toISOString(),
  };
}

/** Endpoints one client may create or delete a minute, together, attempts refused for their URL included (per instance). */
const CHANGES_PER_MINUTE = 100;

/**
 * Each client's creations and deletions counted against CHANGES_PER_MINUTE (rate-limiter-flexible, fixed windows of
 * a minute, in this instance's memory): past it, 429 `rate_limited` with Retry-After, nothing changed.
 */
export function webhookChangesLimit(responder: Responder): RequestHandler {
  const limiter = new RateLimiterMemory({ points: CHANGES_PER_MINUTE, duration: 60, keyPrefix: 'webhook-changes' });
  return (_req, res, next) => {
    limiter.consume(res.locals.caller.client).then(
      () => next(),
      (refused: unknown) => {
        if (!(refused instanceof RateLimiterRes)) return next();
        const seconds = Math.max(1, Math.ceil(refused.msBeforeNext / 1000));
        responder.error(
          res,
          'rate_limited',
          `a client may create or delete ${CHANGES_PER_MINUTE} webhook endpoints a minute; nothing was changed; retry in ${seconds} s`,
          { 'Retry-After': String(seconds) },
        );
      },
    );
  };
}

/** A webhook URL as a log line shows it: without its query string (it may carry the receiver's token). */
function loggedUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

export function createWebhook(events: ClientEvents, responder: Responder): RequestHandler[] {
  const create: RequestHandler = async (req, res) => {
    const json = parseJsonObject(Buffer.isBuffer(req.body) ? req.body : undefined);
    if (!json.ok) return responder.error(res, 'bad_request', json.message);
    const parsed = webhookBodySchema.safeParse(json.value);
    if (!parsed.success) return responder.error(res, 'bad_request', describeIssues(parsed.error));
    const { client } = res.locals.caller;
    const registered = await events.register(client, parsed.data.url);
    switch (registered.kind) {
      case 'refused':
        return responder.error(res, 'bad_request', registered.why);
      case 'full':
        return responder.error(
          res,
          'too_many_webhooks',
          `a client may register ${registered.max} webhook endpoints (WEBHOOKS_PER_CLIENT); delete one first`,
        );
      case 'registered': {
        const { id, url, secret } = registered.endpoint;
        res.locals.log.info({ client, endpoint_id: id, url: loggedUrl(url) }, 'webhook endpoint registered');
        return responder.json(res, 201, { id, url, secret }, NO_STORE);
      }
    }
  };
  return [requireJson(responder), readBody(), create];
}

export function listWebhooks(events: ClientEvents, responder: Responder): RequestHandler {
  return async (_req, res) => {
    const endpoints = await events.list(res.locals.caller.client);
    responder.json(res, 200, { webhooks: endpoints.map(webhookJson) });
  };
}

export function deleteWebhook(events: ClientEvents, responder: Responder): RequestHandler<{ id: string }> {
  return async (req, res) => {
    const { client } = res.locals.caller;
    if (!(await events.remove(client, req.params.id)))
      return responder.error(res, 'not_found', `no webhook endpoint ${req.params.id} of this client`);
    res.locals.log.info({ client, endpoint_id: req.params.id }, 'webhook endpoint removed');
    res.status(204).end();
  };
}
