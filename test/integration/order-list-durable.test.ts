/**
 * GET /orders over Postgres (src/postgres/pg-order-list.ts): its plans use
 * migration 13's indexes — shown with EXPLAIN, over enough orders that a
 * scan and a sort would be the planner's choice without them — and paging
 * lists every order exactly once while new orders arrive and end. Over HTTP,
 * a client lists its own orders, and a failed order's timeline says why, with
 * its money, its events, and each event's delivery to the client's webhook.
 */
import pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { writeDoneOrders } from '../../load/lib/listed-orders.js';
import { orderKey, partsOfKey } from '../../src/domain/order.js';
import { LISTED_STATES, type ListedState, type OrderListQuery } from '../../src/orders/order-list.js';
import { listQuery } from '../support/order-list.js';
import type { OrderRecords } from '../../src/orders/order-records.js';
import { listParameters, listStatement } from '../../src/postgres/pg-order-list.js';
import { useDurableStores } from '../support/durable-stores.js';
import { rawRequest } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { startTestService, TEST_CONFIG } from '../support/service.js';
import { ACME, ADMIN, GLOBEX, TWO_CLIENTS } from '../support/two-clients.js';
import { eventually } from '../support/wait.js';
import { startReceiver } from '../support/webhook-receiver.js';
import { POSTGRES_SKIPPED, POSTGRES_UNAVAILABLE } from '../support/postgres.js';

const stores = useDurableStores();

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Scan Direction'?: string;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}
const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];

/** The nodes of the plan of the list's statement for `query`, as EXPLAIN says it (`analyze`: run, with its counts). */
async function planOf(db: pg.Client, query: OrderListQuery, analyze = false): Promise<PlanNode[]> {
  const { rows } = await db.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
    `EXPLAIN (${analyze ? 'ANALYZE, ' : ''}FORMAT JSON) ${listStatement(query.client !== undefined, query.state).text}`,
    listParameters(query),
  );
  return nodesOf(rows[0]!['QUERY PLAN'][0]!.Plan);
}

/** `body`, on a connection to a database of its own that holds 20,000 done orders of ten clients (listed-orders.ts). */
async function withListedOrders(body: (db: pg.Client) => Promise<void>): Promise<void> {
  const url = await stores.database();
  await stores.open(1, { url });
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    await writeDoneOrders(db, 20_000);
    await body(db);
  } finally {
    await db.end();
  }
}

/** Begins an order; ends it too if `end`. Its run. */
async function place(records: OrderRecords, client: string, id: string, end: boolean): Promise<number> {
  const key = orderKey(client, id);
  const begun = await records.begin(key, `fp-${id}`);
  if (begun.kind !== 'started') throw new Error(`${id}: ${begun.kind}`);
  if (end) await records.finish(key, begun.run, { kind: 'ok', replay: undefined });
  return begun.run;
}

describe('the order list in Postgres', () => {
  beforeEach((test) => {
    if (POSTGRES_UNAVAILABLE !== undefined) test.skip(POSTGRES_SKIPPED);
  });

  it('is served by an index scan, never a scan of the table, for every filter', () =>
    withListedOrders(async (db) => {
      // The planner picks an index by what it expects to pass over: a client of one order in ten is found as soon
      // along every order as along its own, and a few rows (its failures of ten minutes) are fetched and sorted.
      const shapes: Array<[string | undefined, ListedState | undefined, RegExp]> = [
        [undefined, undefined, /^orders_listed$/],
        [undefined, 'failed', /^orders_failed_listed$/],
        ['c3', undefined, /^orders_listed(_by_client)?$/],
        ['c3', 'failed', /^orders_(failed_)?listed(_by_client)?$/],
        // The running are few: fetched through the index of the running, whoever runs them, and sorted.
        ['c3', 'running', /^orders_(running_by_owner|listed(_by_client)?)$/],
        [undefined, 'resumed', /^orders_(running_by_owner|listed)$/],
        // Each ending of its own, a range of the ended orders' index by kind; for a client, that or its own.
        [undefined, 'canceled', /^orders_ended_listed$/],
        [undefined, 'interrupted', /^orders_ended_listed$/],
        [undefined, 'dead_lettered', /^orders_ended_listed$/],
        ['c3', 'canceled', /^orders_(ended_listed|ended_listed_by_client|listed_by_client)$/],
        [undefined, 'succeeded', /^orders_(ended_)?listed$/],
        ['nobody-else', undefined, /^orders_listed_by_client$/],
      ];
      for (const [client, state, index] of shapes) {
        const nodes = await planOf(db, listQuery({ client, state, since: Date.now() - 600_000 }));
        const said = `${client} ${state}: ${JSON.stringify(nodes.map((node) => [node['Node Type'], node['Index Name']]))}`;
        expect(
          nodes.map((node) => node['Node Type']),
          said,
        ).not.toContain('Seq Scan');
        const indexed = nodes.filter((node) => node['Index Name'] !== undefined);
        expect(indexed.length, said).toBeGreaterThan(0);
        for (const node of indexed) expect(node['Index Name'], said).toMatch(index);
      }
      // The whole list, newest first: read straight off the index, backwards, nothing sorted.
      const nodes = await planOf(db, listQuery());
      expect(nodes.map((node) => node['Node Type'])).not.toContain('Sort');
      expect(nodes).toContainEqual(
        expect.objectContaining({
          'Node Type': 'Index Scan',
          'Index Name': 'orders_listed',
          'Scan Direction': 'Backward',
        }),
      );
    }));

  it("reads little more than it lists, whatever a client's history: every filter an index range beside 60,000 failed orders of one client", () =>
    withListedOrders(async (db) => {
      // One client's history that defeats a filter: 60,000 failed orders, newest, then ten older successes.
      await db.query(`INSERT INTO orders (order_id, fingerprint, run, runs, state, kind, received_at, finished_at, replay_until)
                      SELECT 'mallory:f-' || i, 'fp', nextval('order_runs'), 1, 'done', 'payment_declined',
                             now() - (60000 - i) * interval '10 milliseconds', now(), now() + interval '1 day'
                        FROM generate_series(1, 60000) AS i`);
      await db.query(`INSERT INTO orders (order_id, fingerprint, run, runs, state, kind, received_at, finished_at, replay_until)
                      SELECT 'mallory:ok-' || i, 'fp', nextval('order_runs'), 1, 'done', 'ok',
                             now() - interval '2 hours' - i * interval '1 second', now(), now() + interval '1 day'
                        FROM generate_series(1, 10) AS i`);
      await db.query('ANALYZE orders');
      const passedOver: string[] = [];
      for (const client of ['mallory', 'c3', undefined])
        for (const state of [undefined, ...LISTED_STATES]) {
          const nodes = await planOf(db, listQuery({ client, state }), true);
          const removed = nodes.reduce((sum, node) => sum + (node['Rows Removed by Filter'] ?? 0), 0);
          // A page of 50 passes over no more than a page's worth of rows it does not list.
          if (removed > 50 || nodes.some((node) => node['Node Type'] === 'Seq Scan'))
            passedOver.push(
              `${client} ${state}: ${removed} rows passed over, ${JSON.stringify(nodes.map((node) => [node['Node Type'], node['Index Name']]))}`,
            );
        }
      // Before migration 20: mallory's successes passed over its 60,000 failures, c3's failures over its 2,000
      // successes, and the admin's successes over 1,081 failures.
      expect(passedOver).toEqual([]);
    }));

  it('lists each ending as itself: canceled, interrupted and dead_lettered found by their own state, never as failed', async () => {
    const [store] = await stores.open(1);
    const records = store!.records;
    const endings = ['ok', 'payment_declined', 'canceled', 'interrupted', 'dead_lettered'] as const;
    for (const kind of endings) {
      const key = orderKey('e', kind);
      const begun = await records.begin(key, `fp-${kind}`);
      if (begun.kind !== 'started') throw new Error(`${kind}: ${begun.kind}`);
      await records.finish(key, begun.run, { kind, replay: undefined });
    }
    await place(records, 'e', 'under-way', false);
    const listed = async (state: ListedState) =>
      (await records.list(listQuery({ client: 'e', state }))).orders.map((order) => partsOfKey(order.key).orderId);
    expect(await listed('succeeded')).toEqual(['ok']);
    expect(await listed('failed')).toEqual(['payment_declined']);
    for (const kind of ['canceled', 'interrupted', 'dead_lettered'] as const)
      expect(await listed(kind)).toEqual([kind]);
    expect(await listed('running')).toEqual(['under-way']);
    // Nothing here was taken over from a lost instance.
    expect(await listed('resumed')).toEqual([]);
    expect((await listed('done')).sort()).toEqual([...endings].sort());
  });

  it('pages every order exactly once while new orders arrive and end', async () => {
    const [store] = await stores.open(1);
    const records = store!.records;
    const running: Array<[string, number]> = [];
    for (let i = 0; i < 120; i++) {
      const run = await place(records, 'a', `old${i}`, i % 6 !== 0);
      if (i % 6 === 0) running.push([`old${i}`, run]);
    }
    const ids: string[] = [];
    let after: readonly number[] = [];
    let arrived = 0;
    for (;;) {
      const page = await records.list(listQuery({ client: 'a', after, limit: 7 }));
      ids.push(...page.orders.map((order) => partsOfKey(order.key).orderId));
      if (!page.next) break;
      after = page.next;
      await place(records, 'a', `new${arrived++}`, true);
      // One of the old running ones ends meanwhile: it keeps its place.
      const ending = running.pop();
      if (ending) await records.finish(orderKey('a', ending[0]), ending[1], { kind: 'ok', replay: undefined });
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => id.startsWith('old'))).toEqual(Array.from({ length: 120 }, (_, i) => `old${119 - i}`));
  });

  it("over HTTP: a client's own list, and a failed order's timeline with its events' deliveries", async () => {
    const config = {
      durable: { databaseUrl: await stores.database(), leaseMs: 3000, poolSize: 4 },
      access: TWO_CLIENTS,
      events: { ...TEST_CONFIG.events, allowPrivateTargets: true, retryFirstMs: 50 },
    };
    const svc = await startTestService({ config });
    const hook = await startReceiver();
    try {
      const call = (path: string, key: string, body?: unknown) =>
        rawRequest(svc.url, {
          method: body === undefined ? 'GET' : 'POST',
          path,
          headers: {
            authorization: `Bearer ${key}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      const registered = await call('/webhooks', ACME, { url: hook.url });
      expect(registered.status, registered.text).toBe(201);
      const quick = { payment: 5, vendor: 5, courier: 5 };
      await svc.order(
        { order_id: 'durable-no-vendor', amount: 900, delay_ms: quick, fail_step: 'vendor' },
        { key: ACME },
      );
      await svc.order({ order_id: 'durable-ok', amount: 900, delay_ms: quick }, { key: GLOBEX });

      const own = (await call('/orders', ACME)).json() as { orders: Array<{ order_id: string; client: string }> };
      expect(own.orders.map((order) => [order.client, order.order_id])).toEqual([['acme', 'durable-no-vendor']]);
      expect((await call('/orders?client=globex', ACME)).status).toBe(403);
      // The least and the most Date.parse reads are far beyond what Postgres keeps: said so, never a 500.
      for (const time of ['-271821-04-20T00:00:00Z', '+275760-09-13T00:00:00Z', '0000-12-31T23:59:59Z']) {
        const beyond = await call(`/orders?since=${encodeURIComponent(time)}`, ACME);
        expect([beyond.status, beyond.text], time).toEqual([
          400,
          expect.stringContaining('between the years 0001 and 9999'),
        ]);
        expect((await call(`/orders?until=${encodeURIComponent(time)}`, ACME)).status, time).toBe(400);
      }
      const failed = (await call('/orders?state=failed', ADMIN)).json() as { orders: Array<{ order_id: string }> };
      expect(failed.orders.map((order) => order.order_id)).toEqual(['durable-no-vendor']);
      expect((await call('/orders/durable-no-vendor/timeline', GLOBEX)).status).toBe(404);

      interface Timeline {
        failure: { kind: string; step: string; thread_id: number };
        payment: { charged: number; refunded: number };
        events: Array<{ type: string; deliveries: Array<{ outcome: string | null; failures: number }> | null }>;
      }
      const timeline = async (): Promise<Timeline> =>
        (await call('/orders/durable-no-vendor/timeline', ACME)).json() as Timeline;
      expect((await timeline()).failure).toMatchObject({ kind: 'vendor_unavailable', step: 'vendor' });
      expect((await timeline()).payment).toEqual({ charged: 900, refunded: 900 });
      const failedEvent = async () => (await timeline()).events.find((event) => event.type === 'order.failed');
      const delivered = await eventually(failedEvent, (event) => event?.deliveries?.[0]?.outcome === 'delivered', {
        within: 20_000,
        every: 100,
      });
      expect(delivered?.deliveries).toEqual([expect.objectContaining({ outcome: 'delivered', failures: 0 })]);
      await expectAtRest(svc, 2);
    } finally {
      await svc.shutdown();
      await hook.close();
    }
  });
});
