/**
 * The events, assembled: the store's outbox and endpoints, the relay that
 * delivers from them, and what the HTTP layer may do with them (their
 * metrics join the service's in desk.ts). The HTTP status of each outcome
 * comes from the HTTP layer's one table; the events know none. Undefined
 * where the store keeps no events.
 */
import type { Logger } from 'pino';
import type { EventsConfig } from '../config.js';
import { ClientEvents } from '../events/client-events.js';
import { FeedCursors } from '../events/feed-cursor.js';
import type { StatusOfKind } from '../events/order-event.js';
import type { Deliveries } from '../events/deliveries.js';
import type { DeliveryRecorder } from '../events/delivery-traces.js';
import { STATUS_BY_KIND } from '../http/wire/error-status.js';
import type { Store } from '../store/store.js';

export interface ServiceEvents {
  readonly client: ClientEvents;
  readonly deliveries: Deliveries;
  close(): Promise<void>;
}

const statusOf: StatusOfKind = (kind) => (kind === 'ok' ? 200 : STATUS_BY_KIND[kind]);

export function createEvents(
  store: Store,
  config: EventsConfig,
  clientWeights: ReadonlyMap<string, number>,
  log: Logger,
  recorder?: DeliveryRecorder,
): ServiceEvents | undefined {
  if (!store.events) return undefined;
  const { log: outbox, endpoints } = store.events;
  const deliveries = store.events.deliveries({
    timeoutMs: config.webhookTimeoutMs,
    allowPrivate: config.allowPrivateTargets,
    retryFirstMs: config.retryFirstMs,
    retryMaxMs: config.retryMaxMs,
    retryWindowMs: config.retryWindowMs,
    maxPending: config.eventsMax,
    retentionDays: config.retentionDays,
    statusByKind: { ok: 200, ...STATUS_BY_KIND },
    clientWeights,
    log,
    ...(recorder ? { recorder } : {}),
  });
  const client = new ClientEvents(outbox, endpoints, deliveries, {
    webhooksPerClient: config.webhooksPerClient,
    allowPrivateTargets: config.allowPrivateTargets,
    statusOf,
    cursors: new FeedCursors(store.events.cursorSecret),
  });
  return { client, deliveries, close: () => deliveries.close() };
}
