/**
 * Where a client's webhook endpoints are kept: the URL events are sent to,
 * the secret they are signed with (shown once, at registration), and
 * whether the endpoint is still sent to — a `410 Gone`, or a whole retry
 * window of failures, disables it. A client sees and changes only its own.
 * An interface: the in-memory book below, or one a store shared by several
 * instances keeps.
 */
import { randomBytes } from 'node:crypto';
import { randomHex } from '../random-ids.js';

export type DisabledReason = 'gone' | 'failing';

export interface WebhookEndpoint {
  readonly id: string;
  readonly client: string;
  readonly url: string;
  /** `whsec_` and the base64 of the signing key (Standard Webhooks). */
  readonly secret: string;
  readonly createdAt: Date;
  /** Why it is no longer sent to; undefined while it is. */
  readonly disabled: DisabledReason | undefined;
}

export type Added = { readonly kind: 'added'; readonly endpoint: WebhookEndpoint } | { readonly kind: 'full' };

export interface EndpointBook {
  /** Register an endpoint for `client`, unless it has `max` already. */
  add(client: string, url: string, max: number): Promise<Added>;
  /** `client`'s endpoints, oldest first. */
  list(client: string): Promise<WebhookEndpoint[]>;
  /** Whether `client` had an endpoint `id` (now removed). */
  remove(client: string, id: string): Promise<boolean>;
  /** The endpoint `id`, whoever's it is (the relay's look-up before each attempt). */
  get(id: string): Promise<WebhookEndpoint | undefined>;
  /** Stop sending to it; whether this call disabled it (false if it was already, or is gone). */
  disable(id: string, reason: DisabledReason): Promise<boolean>;
}

/** An endpoint as it is now, or gone. */
export type EndpointChange = { readonly endpoint: WebhookEndpoint } | { readonly removed: string };

export class MemoryEndpointBook implements EndpointBook {
  private readonly endpoints = new Map<string, WebhookEndpoint>();
  private readonly listeners: Array<(change: EndpointChange) => void> = [];

  /** Told of every change made through this book (add, remove, disable), after it is made. */
  onChange(listener: (change: EndpointChange) => void): void {
    this.listeners.push(listener);
  }

  /** Take a change made elsewhere (the book this one mirrors), telling no listener. */
  apply(change: EndpointChange): void {
    if ('removed' in change) this.endpoints.delete(change.removed);
    else this.endpoints.set(change.endpoint.id, change.endpoint);
  }

  /** Every endpoint, as changes that make a mirror of this book. */
  snapshot(): EndpointChange[] {
    return [...this.endpoints.values()].map((endpoint) => ({ endpoint }));
  }

  private told(change: EndpointChange): void {
    for (const listener of this.listeners) listener(change);
  }

  async add(client: string, url: string, max: number): Promise<Added> {
    if ((await this.list(client)).length >= max) return { kind: 'full' };
    const endpoint: WebhookEndpoint = {
      id: newEndpointId(),
      client,
      url,
      secret: newSigningSecret(),
      createdAt: new Date(),
      disabled: undefined,
    };
    this.endpoints.set(endpoint.id, endpoint);
    this.told({ endpoint });
    return { kind: 'added', endpoint };
  }

  async list(client: string): Promise<WebhookEndpoint[]> {
    return [...this.endpoints.values()].filter((endpoint) => endpoint.client === client);
  }

  async remove(client: string, id: string): Promise<boolean> {
    if (this.endpoints.get(id)?.client !== client) return false;
    this.endpoints.delete(id);
    this.told({ removed: id });
    return true;
  }

  async get(id: string): Promise<WebhookEndpoint | undefined> {
    return this.endpoints.get(id);
  }

  async disable(id: string, reason: DisabledReason): Promise<boolean> {
    const endpoint = this.endpoints.get(id);
    if (!endpoint || endpoint.disabled) return false;
    const disabled = { ...endpoint, disabled: reason };
    this.endpoints.set(id, disabled);
    this.told({ endpoint: disabled });
    return true;
  }
}

export function newEndpointId(): string {
  return `ep_${randomHex(16)}`;
}

/** 24 random bytes: the Standard Webhooks secret's size (between 24 and 64 bytes). */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}
