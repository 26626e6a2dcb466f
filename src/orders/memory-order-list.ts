/**
 * GET /orders over the records in memory: the orders under way, newest
 * begun first, then the done ones, newest done first — walked back from the
 * tail of the done records' log (src/orders/done-records.ts), so a page of
 * the newest reads a few hundred records, not all of them.
 *
 * A position is [the log's tail when the first page was made, then where to
 * go on]: past RUNNING_PHASE, a running order's begin number (the next page
 * lists those begun before it); below, a done record's place in the log (the
 * next page lists those written before it). Done records are read only
 * below the first page's tail, so an order that ends while the list is paged
 * is never listed twice, and orders that arrive meanwhile are not listed at
 * all: each order is listed at most once, and every order that neither
 * begins nor ends while the list is paged, exactly once. One that was under
 * way on the first page and ended before the page that would have listed it
 * is not listed (it is in the log past that tail).
 *
 * A page reads at most MAX_SCANNED done records: a client with few orders
 * among many gets a short page with a position to go on from, never a long
 * turn of the main thread.
 */
import type { OrderKey } from '../domain/order.js';
import type { Tier } from '../domain/tier.js';
import type { DoneRecords } from './done-records.js';
import { inState, inTimes, type ListedOrder, type OrderListPage, type OrderListQuery } from './order-list.js';

/** Positions at or past this are a running order's begin number (plus this); below, a place in the log (32 bits). */
const RUNNING_PHASE = 2 ** 32;
/** Done records read at most for one page. */
export const MAX_SCANNED = 10_000;

export interface RunningListing {
  readonly key: OrderKey;
  readonly client: string;
  readonly runs: number;
  readonly tier: Tier | undefined;
  /** Its begin number: one count for every run begun in this process. */
  readonly seq: number;
  readonly beganAt: number;
}

export interface MemoryListSource {
  /** The orders under way, in the order they began. */
  readonly running: Iterable<RunningListing>;
  /** The next begin number. */
  readonly nextSeq: number;
  readonly done: DoneRecords;
  /** The records' time to live: a done record's end is its expiry less this. */
  readonly ttlMs: number;
}

export function listMemoryOrders(source: MemoryListSource, query: OrderListQuery): OrderListPage {
  const tail = query.after[0] ?? source.done.tail;
  let from = query.after[1] ?? RUNNING_PHASE + source.nextSeq;
  const orders: ListedOrder[] = [];
  if (from >= RUNNING_PHASE) {
    const before = from - RUNNING_PHASE;
    const running = inState(query.state, undefined) ? [...source.running].reverse() : [];
    let lastSeq = before;
    for (const order of running) {
      if (order.seq >= before) continue;
      if (query.client !== undefined && order.client !== query.client) continue;
      if (!inTimes(query, order.beganAt)) continue;
      if (orders.length === query.limit) return { orders, next: [tail, RUNNING_PHASE + lastSeq] };
      orders.push(listedRunning(order));
      lastSeq = order.seq;
    }
    // A state of the running: no ended order is in it (in memory nothing is resumed: none is either).
    if (query.state === 'running' || query.state === 'resumed') return { orders, next: undefined };
    from = tail;
  }
  return listDone(source, query, tail, from, orders);
}

function listedRunning({ key, runs, tier, beganAt }: RunningListing): ListedOrder {
  return { key, state: 'running', outcome: undefined, runs, ...(tier ? { tier } : {}), at: beganAt };
}

function listDone(
  { done, ttlMs }: MemoryListSource,
  query: OrderListQuery,
  tail: number,
  from: number,
  orders: ListedOrder[],
): OrderListPage {
  let scanned = 0;
  for (const position of done.newestFirst(from)) {
    if (orders.length === query.limit || scanned === MAX_SCANNED) return { orders, next: [tail, done.endOf(position)] };
    scanned++;
    if (query.client !== undefined && done.clientOf(position) !== query.client) continue;
    const kind = done.kindOf(position);
    if (!inState(query.state, kind)) continue;
    const at = done.expiresAtOf(position) - ttlMs;
    if (!inTimes(query, at)) continue;
    const { runs, tier } = done.bodyOf(position);
    orders.push({ key: done.keyOf(position), state: 'done', outcome: kind, runs, ...(tier ? { tier } : {}), at });
  }
  return { orders, next: undefined };
}
