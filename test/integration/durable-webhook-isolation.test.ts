/**
 * What one client's events take from the others in the durable mode: the
 * deliveries owed, rows in Postgres retried for the whole retry window, have
 * a share per client as in memory (webhook-isolation.test.ts).
 * A client whose endpoints all fail at its rate limit owes at most its share
 * (beyond it, its newest deliveries are let go), its rows stop growing with
 * it, and another client's healthy endpoint gets every delivery within 5 s.
 * At the default EVENTS_MAX, the attacker's share of what is owed (33,000
 * rows) slows another client's deliveries no more than a flood of the same
 * orders to working endpoints does.
 * A feed resumed from behind events forgotten past EVENT_RETENTION_DAYS says
 * so, and a cursor made on one instance reads on another.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshOrder } from '../../load/lib/client-scenarios.js';
import { startServerProcess, type ServerProcess } from '../../load/lib/server-process.js';
import type { HealthReport } from '../../src/http/wire/api-schemas.js';
import { Database } from '../../src/postgres/database.js';
import { feedSecret } from '../../src/postgres/pg-events.js';
import { FORGET } from '../../src/postgres/webhook-lane-statements.js';
import { rawRequest } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { parseSamples } from '../support/prometheus.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  sql,
  startTestPostgres,
  type TestPostgres,
} from '../support/postgres.js';
import { ACME, ADMIN, GLOBEX } from '../support/two-clients.js';
import { eventually, pause } from '../support/wait.js';
import { failingEndpointsFlood, registerWebhook, removeWebhooks } from '../support/webhook-flood.js';
import { DELIVERED_WITHIN_MS, startFailingReceiver } from '../support/webhook-receiver.js';

const EVENTS_MAX = 600;
const INSTANT = { payment: 0, vendor: 0, courier: 0 };

let server: TestPostgres | undefined;
let databaseUrl: string;
let a: ServerProcess;
let b: ServerProcess;
/**
 * An instance as deployed: a process of its own. Two in this test's process would share one event loop, and the
 * attacker's flood on one would hold the other's answers and deliveries, which no deployment does.
 */
const instance = (eventsMax: number): Promise<ServerProcess> =>
  startServerProcess({
    THREADS: '2',
    LOG_LEVEL: 'warn',
    FAULT_INJECTION: 'on',
    DATABASE_URL: databaseUrl,
    LEASE_MS: '3000',
    DB_POOL_SIZE: '4',
    API_KEYS: `acme:${ACME},globex:${GLOBEX}`,
    ADMIN_KEY: ADMIN,
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'on',
    EVENTS_MAX: String(eventsMax),
  });
/** The median of `delays`, in whole ms. */
const median = (delays: ReadonlyMap<string, number>): number => {
  const sorted = [...delays.values()].sort((x, y) => x - y);
  return Math.round(sorted[Math.floor(sorted.length / 2)] ?? NaN);
};

/** Drained and exited, as SIGTERM asks: 0 once nothing is left running. One still running 15 s on is killed. */
const stop = async (target: ServerProcess): Promise<number | null> => {
  target.child.kill('SIGTERM');
  const killer = setTimeout(() => target.child.kill('SIGKILL'), 15_000);
  try {
    return (await target.exited).code;
  } finally {
    clearTimeout(killer);
  }
};
const healthOf = (target: ServerProcess) => ({
  health: async () => (await get(target, '/healthz', ADMIN)).json() as HealthReport & { status: string },
});
beforeAll(async () => {
  if (POSTGRES_UNAVAILABLE !== undefined) return;
  server = await startTestPostgres();
  databaseUrl = await freshDatabase(server);
  [a, b] = await Promise.all([instance(EVENTS_MAX), instance(EVENTS_MAX)]);
});
afterAll(async () => {
  // Neither started if Postgres is not there, or one failed to.
  const started = ([a, b] as Array<ServerProcess | undefined>).filter((target) => target !== undefined);
  try {
    for (const target of started) await expectAtRest(healthOf(target), 2);
  } finally {
    const codes = await Promise.all(started.map(stop));
    await server?.stop();
    expect(codes.filter((code) => code !== 0)).toEqual([]);
  }
});

const query = <Row extends object>(text: string, values: unknown[] = []): Promise<Row[]> =>
  sql<Row>(databaseUrl, text, values);

const owedOf = async (client: string): Promise<number> =>
  (
    await query<{ owed: number }>(
      "SELECT count(*)::int AS owed FROM event_deliveries WHERE done_at IS NULL AND split_part(order_id, ':', 1) = $1",
      [client],
    )
  )[0]!.owed;

const get = (target: ServerProcess, path: string, key: string): ReturnType<typeof rawRequest> =>
  rawRequest(target.url, { method: 'GET', path, headers: { authorization: `Bearer ${key}` } });

/** POST /order as `key`'s client: its status. */
const postOrder = async (target: ServerProcess, body: object, key: string): Promise<number> =>
  (
    await rawRequest(target.url, {
      method: 'POST',
      path: '/order',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  ).status;

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(
  `webhooks on Postgres, one client against another${POSTGRES_SKIPPED}`,
  () => {
    it(
      "one client's endpoints all failing at its rate limit: another client's healthy endpoint gets every delivery within 5 s of what it takes beside working ones, and the attacker owes at most its share",
      { timeout: 90_000 },
      async () => {
        const [attacker, victim] = [
          { url: a.url, key: ACME },
          { url: b.url, key: GLOBEX },
        ];
        // The control, in the same run: the same orders to endpoints that take every delivery. The delivery thread
        // yields to every busy core (niceness 10, docs/decisions/side-threads.md): beside four busy loops its slowest
        // delivery took 5,037 and 7,574 ms beside the failing endpoints, which the attacker's share did not cause.
        // Every delivery waited for as long as a delivery may take (the figures judge speed, not the wait): beside a machine
        // at a load of 10, 5 of the control's 19 had come within the 6 s settle.
        const settleMs = DELIVERED_WITHIN_MS;
        const control = await failingEndpointsFlood(attacker, victim, { failing: false, settleMs });
        for (const key of [ACME, GLOBEX]) await removeWebhooks(a.url, key);
        const controlMax = Math.round(Math.max(...control.delays.values()));
        expect(control.delays.size).toBe(control.answered.size);
        const { answered, delays, attackOrders, victimRefused } = await failingEndpointsFlood(attacker, victim, {
          settleMs,
        });
        expect(attackOrders).toBeGreaterThan(300);
        expect(
          answered.size,
          `the victim's other answers: ${JSON.stringify([...victimRefused])}`,
        ).toBeGreaterThanOrEqual(10);
        expect([...answered.keys()].filter((id) => !delays.has(id))).toEqual([]);
        const slowest = Math.round(Math.max(...delays.values()));
        console.log(
          `the victim's slowest delivery: ${slowest} ms beside failing endpoints, ${controlMax} ms beside working ones`,
        );
        expect(slowest).toBeLessThan(controlMax + 5000);
        // Before: nothing bounded it, 10 rows owed for each of the attacker's orders (the issue: +40,000 in 20 s).
        // Now: its share of EVENTS_MAX, a newcomer's half kept free, once the trim has passed.
        await eventually(
          () => owedOf('acme'),
          (owed) => owed <= EVENTS_MAX / 2,
          { within: 5000, every: 200 },
        );
        const dropped = [a, b].map(async (svc) => parseSamples((await get(svc, '/metrics', ADMIN)).text));
        const total = (await Promise.all(dropped)).reduce(
          (sum, samples) => sum + (samples.get('webhook_deliveries_dropped_total{client="acme"}') ?? 0),
          0,
        );
        expect(total).toBeGreaterThan(1000);
      },
    );

    it(
      "one client's endpoints all failing, its share of the default EVENTS_MAX owed: another client's deliveries are as quick as beside the same orders to working endpoints",
      { timeout: 180_000 },
      async () => {
        // Two databases, two instances each: the flood's and the control's, whose attacker sends the same orders to
        // endpoints that take every delivery. Measured one after the other, the windows differed as much as the
        // figures: beside four busy loops the control's p50 ranged 2.0-9.0 s from run to run, and a flood at 4,288 ms
        // failed against a control at 2,029 (its deliveries' thread yields to orders, and got what the loops left).
        const [floodDb, controlDb] = await Promise.all([freshDatabase(server!), freshDatabase(server!)]);
        const env = (url: string): Record<string, string> => ({
          THREADS: '2',
          LOG_LEVEL: 'error',
          DATABASE_URL: url,
          LEASE_MS: '3000',
          DB_POOL_SIZE: '4',
          API_KEYS: `acme:${ACME},globex:${GLOBEX}`,
          ADMIN_KEY: ADMIN,
          WEBHOOK_ALLOW_PRIVATE_TARGETS: 'on',
        });
        // All four or none: one that fails to start must not leave the others running.
        const starts = await Promise.allSettled(
          [floodDb, floodDb, controlDb, controlDb].map((url) => startServerProcess(env(url))),
        );
        const started = starts.flatMap((start) => (start.status === 'fulfilled' ? [start.value] : []));
        if (started.length < starts.length) {
          await Promise.all(started.map(stop));
          throw new Error(`${starts.length - started.length} of 4 instances did not start`);
        }
        const [flooded, controlled] = [started.slice(0, 2), started.slice(2)];
        const senders = ([attacking, serving]: ServerProcess[]) => ({
          attacker: { url: attacking!.url, key: ACME },
          victim: { url: serving!.url, key: GLOBEX },
        });
        try {
          const settleMs = DELIVERED_WITHIN_MS;
          // 40 s of failing orders at 100 a second to 10 endpoints: the attacker's share of what is owed, 33,000 rows.
          // The control's attacker starts 37 s later for its 3 s of fill: both victims send in the same 8 s, beside
          // the same orders a second, with and without the failing attacker's rows.
          const fillMs = 40_000;
          const controlFillMs = 3000;
          const { attacker, victim } = senders(flooded);
          const [flood, control] = await Promise.all([
            failingEndpointsFlood(attacker, victim, { fillMs, victimMs: 8000, settleMs }),
            pause(fillMs - controlFillMs).then(() => {
              const { attacker: controlAttacker, victim: controlVictim } = senders(controlled);
              return failingEndpointsFlood(controlAttacker, controlVictim, {
                failing: false,
                fillMs: controlFillMs,
                victimMs: 8000,
                settleMs,
              });
            }),
          ]);
          const [p50, controlP50] = [median(flood.delays), median(control.delays)];
          const owed = (
            await sql<{ n: number }>(floodDb, 'SELECT count(*)::int AS n FROM event_deliveries WHERE done_at IS NULL')
          )[0]!.n;
          console.log(
            `the victim's deliveries: p50 ${p50} ms (${flood.delays.size} of ${flood.answered.size}) beside failing endpoints owed ${owed} rows; ${controlP50} ms (${control.delays.size} of ${control.answered.size}) beside working ones, in the same window`,
          );
          expect(owed).toBeGreaterThan(20_000);
          expect(flood.delays.size).toBe(flood.answered.size);
          // Before: 130-155 ms against 8-12 (368 and 1,959 against 47 on a busier day): every claim of every instance
          // found the victim's new event behind the attacker's thousands of retries, due. Twice the control, since busy
          // cores stretch both: beside four busy loops, 802-3,333 ms against 3,347-7,506 in the same window (6 runs);
          // the bound still fails every figure before.
          expect(p50).toBeLessThan(2 * controlP50 + 100);
        } finally {
          expect(await Promise.all([...flooded, ...controlled].map(stop))).toEqual([0, 0, 0, 0]);
        }
      },
    );

    it("the feed cursors' secret, asked of a fresh database by many instances at once, is one secret for all", async () => {
      // Before: each asked in one statement, insert-if-absent then read; one that lost the insert to another's read on
      // a snapshot without the winner's row, got no row, and its instance failed to start (TypeError).
      const db = new Database({
        url: await freshDatabase(server!),
        poolSize: 16,
        statementTimeoutMs: 30_000,
        log: pino({ level: 'silent' }),
      });
      try {
        const secrets = await Promise.all(Array.from({ length: 16 }, () => feedSecret(db, randomBytes(32))));
        expect(new Set(secrets.map((secret) => secret.toString('hex'))).size).toBe(1);
      } finally {
        await db.close();
      }
    });

    it('a feed resumed from behind events forgotten past EVENT_RETENTION_DAYS says so (410), and a cursor of one instance reads on another', async () => {
      // An event still owed to an endpoint is never forgotten, however old. The endpoint the test before registered for
      // globex went with its receiver: any of its deliveries still owed when it stopped would keep globex's first
      // events here. Deleted, its deliveries go with it.
      await removeWebhooks(a.url, GLOBEX);
      const orders = Array.from({ length: 3 }, () => freshOrder({ delay_ms: INSTANT }));
      for (const body of orders) expect(await postOrder(a, body, GLOBEX)).toBe(200);
      // The feed as it reads once the three are in it: a transaction still open holds newer events back a while.
      type Page = { events: Array<{ id: string; data: { order_id: string } }>; next: string };
      const whole = await eventually(
        async () => (await get(a, '/events?limit=1000', GLOBEX)).json() as Page,
        (page) => orders.every(({ order_id }) => page.events.some((event) => event.data.order_id === order_id)),
      );
      const first = (await get(a, '/events?limit=1', GLOBEX)).json() as Page;
      expect(first.events.map((event) => event.id)).toEqual([whole.events[0]!.id]);
      // Read on the other instance: the secret cursors are signed with is the database's.
      expect((await get(b, `/events?after=${first.next}`, GLOBEX)).status).toBe(200);
      // The first two events as the feed lists them — the cursor's and the one after it — made 400 days old, and the
      // housekeeping's statement run as it is every minute. Named by id: the feed's order (the transaction, then the
      // sequence) is not the sequence's, and picking them by sequence could age none after the cursor.
      await query("UPDATE events SET created_at = now() - interval '400 days' WHERE id = ANY($1::text[])", [
        whole.events.slice(0, 2).map((event) => event.id),
      ]);
      await query(FORGET.text, [365]);
      const resumed = await get(b, `/events?after=${first.next}`, GLOBEX);
      expect(resumed.status, resumed.text).toBe(410);
      const { next } = resumed.json() as { next: string };
      expect((await get(a, `/events?after=${next}`, GLOBEX)).status).toBe(200);
    });

    it("an order whose every owed delivery was let go past its client's share leaves no job waiting its retry: each would be locked by every claim, any client's, until it ran", async () => {
      const failing = await startFailingReceiver();
      try {
        // One endpoint of acme's, failing: each order owes it one delivery.
        await removeWebhooks(a.url, ACME);
        await registerWebhook(a.url, ACME, failing.url);
        const orders = Array.from({ length: 5 }, () =>
          freshOrder({ fail_step: 'payment', delay_ms: INSTANT }, 'let-go'),
        );
        for (const body of orders) expect(await postOrder(a, body, ACME)).toBe(400);
        const stored = orders.map(({ order_id }) => `acme:${String(order_id)}`);
        const keys = stored.map((order) => `webhook:${order}`);
        // Each job waiting for a retry an hour away, as after a few failures: untouched, it would wait that long. A job
        // not running is moved; one running is moved once it has put its order's next job in the queue, the last thing
        // a run does, so a job moved stays so. Not all five at one instant: on a busy machine, beside the flood's jobs
        // still claimed and deferred, no poll in 10 s found all five idle.
        const moved = new Set<string>();
        await eventually(
          async () => {
            const rows = await query<{ key: string }>(
              "UPDATE graphile_worker._private_jobs SET run_at = now() + interval '1 hour' WHERE key = ANY($1::text[]) AND locked_at IS NULL RETURNING key",
              [keys],
            );
            for (const { key } of rows) moved.add(key);
            return moved.size;
          },
          (count) => count === orders.length,
          { within: 10_000, every: 100 },
        );
        // An instance whose EVENTS_MAX leaves acme a row or so lets go of its newest: most of these orders' rows.
        const trimming = await instance(2);
        try {
          const letGo = await eventually(
            async () => {
              const owing = await query<{ order_id: string }>(
                'SELECT DISTINCT order_id FROM event_deliveries WHERE done_at IS NULL AND order_id = ANY($1::text[])',
                [stored],
              );
              return stored.filter((order) => !owing.some((row) => row.order_id === order));
            },
            (gone) => gone.length >= 3,
            // The new instance trims once its delivery thread's queue has started: seconds on a busy machine.
            { within: 30_000, every: 100 },
          );
          const waiting = await eventually(
            async () =>
              query<{ key: string }>('SELECT key FROM graphile_worker._private_jobs WHERE key = ANY($1::text[])', [
                letGo.map((order) => `webhook:${order}`),
              ]),
            // Deleted by the very trim that let the rows go; untouched, they would wait an hour.
            (jobs) => jobs.length === 0,
            { within: 10_000, every: 100 },
          );
          expect(waiting).toEqual([]);
        } finally {
          expect(await stop(trimming)).toBe(0);
        }
      } finally {
        await failing.close();
      }
    });
  },
);
