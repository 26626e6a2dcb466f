/**
 * What the HTTP layer may do with events and webhooks, on behalf of one
 * client (or the admin): register, list and remove its endpoints, page
 * through its events, have one sent again. Each answer is a value the route
 * turns into JSON or an error kind; nothing here knows HTTP.
 */
import type { DeliveryRecord, EventLog } from './event-log.js';
import type { FeedCursors } from './feed-cursor.js';
import { eventJson, type EventJson, type StatusOfKind } from './order-event.js';
import { checkTarget } from './target-guard.js';
import type { EndpointBook, WebhookEndpoint } from './webhook-endpoints.js';
import type { Deliveries } from './deliveries.js';

export type Registration =
  | { readonly kind: 'registered'; readonly endpoint: WebhookEndpoint }
  | { readonly kind: 'refused'; readonly why: string }
  | { readonly kind: 'full'; readonly max: number };

export type FeedPage =
  | { readonly kind: 'page'; readonly events: EventJson[]; readonly next: string; readonly hasMore: boolean }
  | { readonly kind: 'bad_cursor'; readonly why: string }
  /** Some of the client's events after its cursor are no longer kept; `next` reads what is, from the oldest. */
  | { readonly kind: 'gap'; readonly next: string };

/** An order's event as its timeline shows it. */
export interface OrderEventRecord {
  readonly event: EventJson;
  readonly run: number;
  readonly traceId: string | undefined;
  /** Its deliveries, one per endpoint it was owed to; undefined where the store does not keep them (memory). */
  readonly deliveries: DeliveryRecord[] | undefined;
}

/** The feed's page size, by default and at most. */
export const FEED_LIMIT_DEFAULT = 100;
export const FEED_LIMIT_MAX = 1000;

export interface ClientEventsOptions {
  readonly webhooksPerClient: number;
  readonly allowPrivateTargets: boolean;
  readonly statusOf: StatusOfKind;
  /** Signs and reads the feed's cursors, with the store's secret. */
  readonly cursors: FeedCursors;
}

export class ClientEvents {
  constructor(
    private readonly log: EventLog,
    private readonly endpoints: EndpointBook,
    private readonly relay: Deliveries,
    private readonly options: ClientEventsOptions,
  ) {}

  async register(client: string, url: string): Promise<Registration> {
    const max = this.options.webhooksPerClient;
    // Before the look-up: a flood of registrations costs no DNS once the client is at its limit.
    if ((await this.endpoints.list(client)).length >= max) return { kind: 'full', max };
    const target = await checkTarget(url, this.options.allowPrivateTargets);
    if (!target.ok) return { kind: 'refused', why: target.why };
    const added = await this.endpoints.add(client, target.url.href, max);
    return added.kind === 'added' ? { kind: 'registered', endpoint: added.endpoint } : { kind: 'full', max };
  }

  list(client: string): Promise<WebhookEndpoint[]> {
    return this.endpoints.list(client);
  }

  remove(client: string, id: string): Promise<boolean> {
    return this.endpoints.remove(client, id);
  }

  /**
   * A page of `client`'s events after the cursor `after`, or a gap: a client that resumes from a cursor expects every
   * event after it, and one gone (EVENTS_MAX, EVENT_RETENTION_DAYS, a restart in memory) is said, never skipped.
   */
  async page(client: string, after: string | undefined, limit: number): Promise<FeedPage> {
    const { cursors } = this.options;
    let position: readonly number[] = [];
    if (after !== undefined) {
      const reading = cursors.read(after, client);
      if (!reading.ok && reading.why === 'expired') return { kind: 'gap', next: cursors.cursorOf(client, []) };
      if (!reading.ok)
        return {
          kind: 'bad_cursor',
          why:
            reading.why === 'other_client'
              ? 'after is a cursor given to another client'
              : 'after is not a cursor this service gave (use the `next` of a previous page, or leave it out)',
        };
      position = reading.after;
    }
    // One more than asked: whether another page follows, without a second query.
    const page = await this.log.page(client, position, limit + 1);
    if (page.gap) return { kind: 'gap', next: cursors.cursorOf(client, []) };
    const { events } = page;
    const hasMore = events.length > limit;
    const shown = hasMore ? events.slice(0, limit) : events;
    const last = shown.at(-1)?.position ?? position;
    return {
      kind: 'page',
      events: shown.map((event) => eventJson(event, this.options.statusOf)),
      next: cursors.cursorOf(client, last),
      hasMore,
    };
  }

  /** The events of one of `client`'s orders still kept, oldest first, each with its run and its trace (a timeline). */
  async ofOrder(client: string, orderId: string): Promise<OrderEventRecord[]> {
    const events = await this.log.ofOrder(client, orderId);
    const deliveries = await this.log.deliveriesOf?.(
      events.map((event) => event.seq),
      client,
    );
    return events.map((event) => ({
      event: eventJson(event, this.options.statusOf),
      run: event.run,
      traceId: event.trace?.traceId,
      deliveries: deliveries?.filter((delivery) => delivery.eventSeq === event.seq),
    }));
  }

  /** Send event `id` again (admin); undefined if no such event is kept. */
  async redeliver(id: string): Promise<{ readonly event: EventJson; readonly deliveries: number } | undefined> {
    const event = await this.log.get(id);
    if (!event) return undefined;
    return { event: eventJson(event, this.options.statusOf), deliveries: await this.relay.redeliver(event) };
  }
}
