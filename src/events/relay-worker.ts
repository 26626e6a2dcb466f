/**
 * The in-memory relay's thread (relay-thread.ts starts it): the relay
 * (webhook-relay.ts), its sends, signatures and JSON, off the thread that
 * serves orders. It keeps a mirror of the endpoint book, told of every
 * change in the order the main thread made them — an endpoint registered
 * before an order is known here before the order's events — and tells the
 * main thread of an endpoint it disables (410, a whole retry window).
 */
import type { DeliveryOptions } from './deliveries.js';
import { deliveryThreadPort } from './delivery-thread-port.js';
import type { StoredEvent } from './order-event.js';
import { MemoryEndpointBook, type EndpointChange } from './webhook-endpoints.js';
import { WebhookRelay } from './webhook-relay.js';
import type { DisabledReason } from './webhook-endpoints.js';

export type RelayWorkerData = Omit<DeliveryOptions, 'log' | 'recorder'>;

/** From the main thread. */
export type ToRelayWorker =
  { readonly changes: readonly EndpointChange[] } | { readonly events: readonly StoredEvent[] };
export type RelayRequest = { readonly redeliver: StoredEvent } | { readonly figures: true };
/** To the main thread: an endpoint this thread's relay disabled. */
export interface RelayDisabled {
  readonly disable: string;
  readonly reason: DisabledReason;
}

const thread = deliveryThreadPort<RelayWorkerData>();
const endpoints = new MemoryEndpointBook();
endpoints.onChange((change) => {
  if ('endpoint' in change && change.endpoint.disabled)
    thread.post({ disable: change.endpoint.id, reason: change.endpoint.disabled } satisfies RelayDisabled);
});
const relay = new WebhookRelay(endpoints, {
  ...thread.data,
  log: thread.log,
  ...(thread.recorder ? { recorder: thread.recorder } : {}),
});

thread.serve(
  {
    onPost: (message) => {
      const told = message as ToRelayWorker;
      if ('changes' in told) for (const change of told.changes) endpoints.apply(change);
      else relay.take(told.events);
    },
    onRequest: (body) => {
      const request = body as RelayRequest;
      return 'redeliver' in request ? relay.redeliver(request.redeliver) : relay.figures();
    },
    onClose: () => relay.close(),
  },
  () => relay.start(),
);
