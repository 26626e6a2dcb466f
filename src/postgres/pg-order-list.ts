/**
 * GET /orders over Postgres: newest first by when an order's latest run
 * began, then by its run (drawn from one sequence: unique), a page after the
 * position (received_at in µs, run) the previous page ended at. Served by
 * the indexes of migrations 13, 20 and 23 — orders (received_at, run), (client,
 * received_at, run), the failed ones' own and the ended ones' by kind, for
 * all clients and for one — scanned backwards from
 * the position: a page reads its own rows, passing over none that one
 * client's history could pile up (`done` passes over the running, `running`
 * sorts them: as few as the orders in flight), never the table
 * (test/integration/order-list-durable.test.ts shows the plan). An order
 * keeps its place while it runs and once done, so every order is listed
 * exactly once however many arrive meanwhile — unless it is run again
 * (a new run begins now, and it moves to the front).
 *
 * One statement per shape of filter (with a client or not, which state): a
 * prepared statement whose conditions all take parameters would be planned
 * once for every shape, and could not use the client's index.
 */
import { OWN_ENDINGS } from '../domain/lifecycle.js';
import type { Tier } from '../domain/tier.js';
import type { ListedState, OrderListPage, OrderListQuery } from '../orders/order-list.js';
import type { OutcomeKind } from '../orders/order-records.js';
import { asNumber, unstoredKey, type Database, type Statement } from './database.js';

type OwnEnding = (typeof OWN_ENDINGS)[number];

interface ListedRow {
  readonly order_id: string;
  readonly state: 'running' | 'done';
  readonly kind: OutcomeKind | null;
  readonly runs: number;
  readonly tier: Tier | null;
  readonly resumed: boolean;
  readonly run: string;
  readonly received_us: string;
}

/** An ending of its own (canceled, interrupted, dead_lettered), in SQL: each is a range of orders_ended_listed. */
const endedAs = (kind: string): string => ` AND state = 'done' AND kind = '${kind}'`;

/**
 * Each state's condition, an index range of migration 20's (failed: orders_failed_listed, whose predicate it repeats;
 * an ending: orders_ended_listed) or the running's few rows.
 */
const STATE_CONDITION: Record<ListedState | 'any', string> = {
  any: '',
  running: " AND state = 'running'",
  resumed: " AND state = 'running' AND recoveries > 0",
  done: " AND state = 'done'",
  succeeded: endedAs('ok'),
  failed: ` AND state = 'done' AND kind NOT IN ('ok', ${OWN_ENDINGS.map((kind) => `'${kind}'`).join(', ')})`,
  ...(Object.fromEntries(OWN_ENDINGS.map((kind) => [kind, endedAs(kind)])) as Record<OwnEnding, string>),
};

/** Newer than any order: where the first page starts (µs since the epoch, year 2255). */
const NEWEST = Number.MAX_SAFE_INTEGER;

/** The statement of one shape of filter; its parameters: before (µs, run), since, until (ms, or null), limit, client. */
export function listStatement(byClient: boolean, state: ListedState | undefined): Statement {
  return {
    name: `orders_list_${byClient ? 'client' : 'all'}_${state ?? 'any'}`,
    text: `SELECT order_id, state, kind, runs, tier, state = 'running' AND recoveries > 0 AS resumed, run, (extract(epoch FROM received_at) * 1000000)::bigint AS received_us
             FROM orders
            WHERE (received_at, run) < (timestamptz 'epoch' + $1::bigint * interval '1 microsecond', $2::bigint)
              AND received_at >= coalesce(timestamptz 'epoch' + $3::bigint * interval '1 millisecond', '-infinity')
              AND received_at < coalesce(timestamptz 'epoch' + $4::bigint * interval '1 millisecond', 'infinity')
              AND NOT (state = 'done' AND replay_until <= now())${STATE_CONDITION[state ?? 'any']}${byClient ? ' AND client = $6' : ''}
            ORDER BY received_at DESC, run DESC
            LIMIT $5`,
  };
}

/** The parameters of `listStatement` for `query`: one more row than asked, to know whether a page follows. */
export function listParameters(query: OrderListQuery): unknown[] {
  const [beforeUs = NEWEST, beforeRun = NEWEST] = query.after;
  return [
    beforeUs,
    beforeRun,
    query.since ?? null,
    query.until ?? null,
    query.limit + 1,
    ...(query.client === undefined ? [] : [query.client]),
  ];
}

export async function listPgOrders(db: Database, query: OrderListQuery): Promise<OrderListPage> {
  const rows = await db.read<ListedRow>(
    listStatement(query.client !== undefined, query.state),
    listParameters(query),
    query.reader ?? query.client,
  );
  const shown = rows.slice(0, query.limit);
  const last = shown.at(-1);
  return {
    orders: shown.map((row) => ({
      key: unstoredKey(row.order_id),
      state: row.state,
      outcome: row.kind ?? undefined,
      runs: row.runs,
      ...(row.tier ? { tier: row.tier } : {}),
      ...(row.resumed ? { resumed: true as const } : {}),
      at: Math.floor(asNumber(row.received_us) / 1000),
    })),
    next: rows.length > query.limit && last ? [asNumber(last.received_us), asNumber(last.run)] : undefined,
  };
}
