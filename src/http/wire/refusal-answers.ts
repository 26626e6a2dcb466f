/**
 * What an order refused admission is told: the one place that turns the
 * orders layer's refusals (facts: src/orders/admission.ts) into an error
 * kind — and so a status (src/http/wire/error-status.ts) — words, and headers.
 * So are the refusals the edge makes before a request reaches the app: a
 * connection beyond the limits, and a read while the main thread runs late.
 */
import type { ErrorKind } from '../../domain/errors.js';
import type { Tier } from '../../domain/tier.js';
import type { TierFull } from '../../fairness/tier-headroom.js';
import type { DependencyDown, Full, Refusal, ShareFull } from '../../orders/admission.js';
import { SHUTTING_DOWN_MESSAGE } from './responses.js';

export interface RefusalAnswer {
  readonly kind: ErrorKind;
  readonly message: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Whether the order counts as shed (the metrics): refused for want of room, not for the service's going. */
  readonly shed: boolean;
}

/** What the words of a refusal name besides the refusal itself. */
export interface RefusalContext {
  /** The tier the order asked to run at. */
  readonly tier: Tier;
  /** MAX_INFLIGHT. */
  readonly maxInflight: number;
}

/** `refusal`, said. */
export function refusalAnswer(refusal: Refusal, context: RefusalContext): RefusalAnswer {
  switch (refusal.refused) {
    case 'draining':
      return { kind: 'shutting_down', message: SHUTTING_DOWN_MESSAGE, shed: false };
    case 'service_full':
      return { kind: 'overloaded', message: serviceFull(refusal.full, context), shed: true };
    case 'over_share':
      return { kind: 'overloaded', message: shareFull(refusal, context), shed: true };
    case 'tier_full':
      return { kind: 'overloaded', message: tierFull(refusal, context), shed: true };
    case 'dependency_down':
      return dependencyDown(refusal);
  }
}

/**
 * A known client's request shed while the event loop runs late: its client sent far more than its share of the
 * requests of the last second (src/http/guards/client-load.ts), and is shed before any other client's.
 */
export function shedForTheLoop(client: string): { readonly kind: ErrorKind; readonly message: string } {
  return {
    kind: 'overloaded',
    message: `the service's event loop runs late, and client ${client} sent far more than its share of the requests of the last second: its requests are held a second and refused until the loop catches up, other clients' are served; retry in 1 s`,
  };
}

function serviceFull(full: Full, { tier, maxInflight }: RefusalContext): string {
  return full === 'records'
    ? `no room to record another order until older ones expire (every order is kept for IDEMPOTENCY_TTL_MS); retry shortly (tier ${tier})`
    : `${maxInflight} orders are in flight; retry shortly (tier ${tier})`;
}

/** Nothing started: the client's share is full; other clients' orders are not affected. */
function shareFull({ client, share, held, limit }: ShareFull, { tier }: RefusalContext): string {
  if (share === 'orders_in_flight')
    return `client ${client} has ${held} orders in flight: its whole share while other clients share the service (${limit} now: at most CLIENT_MAX_SHARE of MAX_INFLIGHT, less the room kept for other active clients' floors); other clients' orders are not affected; retry shortly (tier ${tier})`;
  if (share === 'long_orders_in_flight')
    return `client ${client} has ${held} orders in flight with a deadline_ms beyond ORDER_TIMEOUT_MS: as many as it may hold (${limit}: its weight's part of MAX_INFLIGHT among every client and a newcomer, so that such orders never keep another client from its floor); orders of the service's own deadline are not affected; retry once one ends (tier ${tier})`;
  return `what is kept of client ${client}'s orders fills its whole share of the order records' memory (CLIENT_MAX_SHARE of ORDER_RECORDS_MAX_MB, ${megabytes(limit)} MB) until older ones expire (IDEMPOTENCY_TTL_MS); other clients' orders are not affected; retry shortly (tier ${tier})`;
}

/** Nothing started: the tier's ceiling is reached, and what is above it is kept for the tiers above. */
function tierFull({ bounded, used, limit }: TierFull, { tier, maxInflight }: RefusalContext): string {
  const what = {
    orders_in_flight: `${used} orders are in flight (MAX_INFLIGHT ${maxInflight})`,
    pool_queue: `${used} tasks wait in the worker pool's queue`,
    records: `the order records hold ${megabytes(used)} MB`,
    event_loop: `the event loop runs ${used} ms late`,
  }[bounded];
  const ceiling = bounded === 'records' ? `${megabytes(limit)} MB` : bounded === 'event_loop' ? `${limit} ms` : limit;
  return `tier ${tier} is shed: ${what}, its ceiling is ${ceiling} (TIER_CEILINGS), and the rest is kept for the tiers above; retry shortly`;
}

/**
 * Nothing started, nothing recorded: answered at once with the dependency's kind, and when its breaker may let an
 * order through.
 */
function dependencyDown({ unavailable, dependency, retryAfterMs }: DependencyDown): RefusalAnswer {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return {
    kind: unavailable,
    message: `${dependency} is unavailable (its circuit breaker is open): nothing was started; retry in ${seconds} s`,
    headers: { 'Retry-After': String(seconds) },
    shed: false,
  };
}

/** A refusal the edge writes itself, before the app: its kind, its words and its headers; never kept by a cache. */
export interface EdgeRefusal {
  readonly kind: ErrorKind;
  readonly message: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** A connection beyond MAX_CONNECTIONS, or closed to make room for another: one that could be served soon. */
export const TOO_MANY_CONNECTIONS: EdgeRefusal = {
  kind: 'overloaded',
  message: 'too many connections are open; retry shortly',
  headers: { 'Retry-After': '1', 'Cache-Control': 'no-store' },
};

/**
 * A read (GET or HEAD, not a probe) refused before routing, `lateMs` (or more) late: the orders in flight and the
 * lease's renewal run on the main thread the reads would hold, and come first.
 */
export function lateRead(lateMs: number): EdgeRefusal {
  return {
    kind: 'overloaded',
    message: `the service is behind on its orders (its event loop runs ${lateMs} ms late or more): reads are refused until it catches up, orders are not; retry shortly`,
    headers: { 'Retry-After': '1', 'Cache-Control': 'no-store' },
  };
}

function megabytes(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}
