/**
 * POST /webhooks, GET /webhooks, DELETE /webhooks/{id}: a client's own
 * webhook endpoints. The secret is in the answer to the POST only; the list
 * never shows it. Another client's endpoint is as unknown as one never
 * registered (404). A URL that is not a URL, is not https, does not resolve,
 * or resolves to an address webhooks may not reach (src/events/target-guard.ts)
 * is 400; past WEBHOOKS_PER_CLIENT, 409.
 */
import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { ClientEvents } from '../events/client-events.js';
import type { WebhookEndpoint } from '../events/webhook-endpoints.js';
import type { WebhookJson } from './api-schemas.js';
import { readBody } from './body-reader.js';
import { describeIssues, parseJsonObject, requireJson } from './json-body.js';
import { NO_STORE, type Responder } from './responses.js';

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
        res.locals.log.info({ client, endpoint_id: id, url }, 'webhook endpoint registered');
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
