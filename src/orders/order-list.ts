/**
 * Orders as a list (GET /orders): newest first, a page at a time, filtered
 * by client, state and time. Each store pages its own way (keyset, never an
 * offset): the position it returns is where the next page starts, and the
 * HTTP layer hands it out signed and bound to the caller (the feed's cursors,
 * src/events/feed-cursor.ts). A page may hold fewer orders than asked while
 * more follow (a store bounds the work of one page): `next` says whether
 * they do.
 */
import type { OrderKey } from '../domain/order.js';
import type { Tier } from '../domain/tier.js';
import type { OrderFailureKind } from '../domain/errors.js';
import { lifecycleOf, type Lifecycle } from '../domain/lifecycle.js';

/** How a run ended: 'ok', or the kind it failed with (the records' OutcomeKind, said here so neither imports the other). */
type OutcomeKind = OrderFailureKind | 'ok';

/**
 * Every state of an order's life a record is in (src/domain/lifecycle.ts), each listing the orders in it — running:
 * under way, the resumed too — and done: ended, however. Not accepted: a 202's word for an order about to run.
 */
export const LISTED_STATES = [
  'running',
  'resumed',
  'done',
  'succeeded',
  'failed',
  'canceled',
  'interrupted',
  'dead_lettered',
] as const satisfies ReadonlyArray<Exclude<Lifecycle, 'accepted'> | 'done'>;
export type ListedState = (typeof LISTED_STATES)[number];

export interface OrderListQuery {
  /** Only this client's orders; undefined: every client's (the admin's view). */
  readonly client: string | undefined;
  readonly state: ListedState | undefined;
  /** Only orders whose time (`ListedOrder.at`) is at or after this, in ms since the epoch. */
  readonly since: number | undefined;
  /** …and before this. */
  readonly until: number | undefined;
  /** Where the page starts: a position a page before gave; empty, from the newest. */
  readonly after: readonly number[];
  readonly limit: number;
  /** Who asks (the admin may list another client's): whose share of the store's reads the list takes. */
  readonly reader?: string;
}

export interface ListedOrder {
  readonly key: OrderKey;
  readonly state: 'running' | 'done';
  /** How its latest run ended; undefined while it runs. */
  readonly outcome: OutcomeKind | undefined;
  readonly runs: number;
  readonly tier?: Tier;
  /** Running on after its run was taken over from a lost instance (durable mode). */
  readonly resumed?: true;
  /**
   * When its latest run began (Postgres), or, in memory, when it began if it runs and when it ended if it is done (a
   * done record keeps no start): what `since` and `until` compare with. Ms since the epoch.
   */
  readonly at: number;
}

export interface OrderListPage {
  readonly orders: readonly ListedOrder[];
  /** Where the next page starts; undefined when no order follows. */
  readonly next: readonly number[] | undefined;
}

/** Whether an order whose latest run ended `kind` (undefined: it runs; `resumed`, taken over) is in `state`. */
export function inState(state: ListedState | undefined, kind: OutcomeKind | undefined, resumed = false): boolean {
  switch (state) {
    case undefined:
      return true;
    case 'running':
      return kind === undefined;
    case 'done':
      return kind !== undefined;
    default:
      return lifecycleOf(kind === undefined ? 'running' : 'done', kind, resumed) === state;
  }
}

/** Whether `at` is within the query's times. */
export const inTimes = (query: OrderListQuery, at: number): boolean =>
  (query.since === undefined || at >= query.since) && (query.until === undefined || at < query.until);
