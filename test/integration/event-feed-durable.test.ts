/**
 * GET /events over Postgres, read in its true order: the feed pages by the inserting transaction's id (xid8) as a
 * number, never by its text, whose order puts 1000 before 999 and 10000 before 9999. On a cluster of the file's own
 * (transaction ids are the cluster's, and the shared server's are long past 10,000), orders end while the ids cross
 * 999 → 1,000 and 9,999 → 10,000, and the feed read a few events a page finds every event once, in order. The page's
 * statement is read off its index (migration 6's events_feed), nothing sorted.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FEED_PAGE } from '../../src/postgres/pg-events.js';
import { rawRequest } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { orderBody } from '../support/orders.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  sql,
  startOwnTestPostgres,
  type TestPostgres,
} from '../support/postgres.js';
import { startTestService, type TestService } from '../support/service.js';
import { ACME, TWO_CLIENTS } from '../support/two-clients.js';
import { pause } from '../support/wait.js';

const INSTANT = { payment: 0, vendor: 0, courier: 0 };
/** The ids the feed's text order misreads: where a decimal digit is added. */
const CROSSINGS = [1000, 10_000];
/** How far before a crossing its orders begin, and past it they end (in transaction ids). */
const AROUND = { before: 24, after: 12 };

let server: TestPostgres | undefined;
let databaseUrl: string;
let svc: TestService;
beforeAll(async () => {
  if (POSTGRES_UNAVAILABLE !== undefined) return;
  server = await startOwnTestPostgres();
  databaseUrl = await freshDatabase(server);
  svc = await startTestService({
    config: { durable: { databaseUrl, leaseMs: 3000, poolSize: 4 }, access: TWO_CLIENTS },
  });
}, 60_000);
afterAll(async () => {
  if (svc) await expectAtRest(svc, 2);
  await svc?.shutdown();
  await server?.stop();
});

/** The cluster's next transaction id. */
async function nextXid(): Promise<number> {
  const [row] = await sql<{ xid: string }>(databaseUrl, 'SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid');
  return Number(row!.xid);
}

/** Uses up transaction ids until the next is at least `target`: one committed transaction each, on the server. */
async function burnXidsTo(target: number): Promise<void> {
  const count = target - (await nextXid());
  if (count <= 0) return;
  // A DO block may commit (Postgres 11 on): ten thousand transactions in one round trip.
  await sql(
    databaseUrl,
    `DO $$ BEGIN FOR i IN 1..${count} LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$`,
  );
}

interface FeedPageJson {
  events: Array<{ id: string }>;
  next: string;
  has_more: boolean;
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`the event feed on Postgres${POSTGRES_SKIPPED}`, () => {
  it('finds every event once, in order, a few a page, across transaction ids 999 → 1,000 and 9,999 → 10,000', async () => {
    // Migrations and the service's start took some ids: the first crossing must still be ahead.
    expect(await nextXid(), 'this cluster is already past the first crossing').toBeLessThan(
      CROSSINGS[0]! - AROUND.before,
    );
    let placed = 0;
    for (const crossing of CROSSINGS) {
      // The service takes ids of its own meanwhile (its lease, recovery): orders are placed until the ids are past.
      await burnXidsTo(crossing - AROUND.before);
      while ((await nextXid()) < crossing + AROUND.after && placed < 200) {
        // Every other order fails after its payment: two events of one transaction, so one xid's events span pages.
        const body = orderBody({ delay_ms: INSTANT, ...(placed % 2 ? { fail_step: 'vendor' } : {}) });
        const answer = await svc.order(body, { key: ACME });
        expect(answer.status, JSON.stringify(answer.body)).toBe(placed % 2 ? 503 : 200);
        placed++;
      }
    }
    // Their true order, as the test's own SQL reads it (the numeric xid8, then seq).
    const events = await sql<{ id: string; xid_text: string }>(
      databaseUrl,
      "SELECT id, xid::text AS xid_text FROM events WHERE client = 'acme' ORDER BY xid, seq",
    );
    for (const crossing of CROSSINGS) {
      const xids = events.map((event) => Number(event.xid_text));
      expect(
        xids.some((xid) => xid < crossing) && xids.some((xid) => xid >= crossing),
        `events on both sides of ${crossing}`,
      ).toBe(true);
    }
    const expected = events.map((event) => event.id);

    // Read as a client catching up would: three a page, resuming from each page's `next` until it has them all (a
    // transaction still open, the service's own, may hold the feed's end back for a moment).
    const seen: string[] = [];
    let after = '';
    const until = performance.now() + 5000;
    while (seen.length < expected.length && performance.now() < until) {
      const response = await rawRequest(svc.url, {
        method: 'GET',
        path: `/events?limit=3${after ? `&after=${after}` : ''}`,
        headers: { authorization: `Bearer ${ACME}` },
      });
      expect(response.status, response.text).toBe(200);
      const page = response.json() as FeedPageJson;
      seen.push(...page.events.map((event) => event.id));
      after = page.next;
      if (!page.has_more) await pause(50);
    }
    expect(seen).toEqual(expected);
  });

  it("is read off the feed's index in its order: no sort, no scan of the table", async () => {
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      // Enough events of enough clients that a scan and a sort would be the planner's choice without the index.
      await db.query(
        `INSERT INTO events (client, order_id, run, type, kind, charged, refunded)
         SELECT 'c' || (i % 10), 'c' || (i % 10) || ':o' || i, 1, 'order.succeeded', 'ok', 100, 0
           FROM generate_series(1, 20000) AS i`,
      );
      await db.query('ANALYZE events');
      const { rows } = await db.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
        `EXPLAIN (FORMAT JSON) ${FEED_PAGE.text}`,
        ['c3', '900', 0, 101],
      );
      const nodes = nodesOf(rows[0]!['QUERY PLAN'][0]!.Plan);
      const said = JSON.stringify(nodes.map((node) => [node['Node Type'], node['Index Name']]));
      expect(
        nodes.map((node) => node['Node Type']),
        said,
      ).not.toContain('Sort');
      expect(
        nodes.map((node) => node['Node Type']),
        said,
      ).not.toContain('Seq Scan');
      expect(nodes, said).toContainEqual(
        expect.objectContaining({ 'Node Type': 'Index Scan', 'Index Name': 'events_feed' }),
      );
    } finally {
      await db.end();
    }
  });
});

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}
const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];
