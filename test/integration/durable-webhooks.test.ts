/**
 * Events and webhooks in the durable mode, over real HTTP, two instances on
 * one database, receivers on loopback: endpoints registered on one instance
 * are every instance's; each client receives exactly its own orders' events
 * — written by the statements that record the outcomes — signed, with the
 * types and money GET /orders/{id} says, in order per order; a failed first
 * attempt comes again with the same webhook-id; GET /events pages them from
 * any instance with no gap and no duplicate; an order's deliveries to all its
 * client's endpoints are one graphile-worker job.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequestFollowingRetryAfter, rawRequest, type RawResponse } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { orderBody } from '../support/orders.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  sql,
  startTestPostgres,
  type TestPostgres,
} from '../support/postgres.js';
import { startTestService, TEST_CONFIG, type TestService } from '../support/service.js';
import { eventually } from '../support/wait.js';
import {
  DELIVERED_WITHIN_MS,
  expectedTypes,
  startHangingReceiver,
  startReceiver,
  type OrderStatusJson,
  type Receiver,
} from '../support/webhook-receiver.js';

const ACME = 'acme_key_0123456789abcdefghijklmnopqrstuv';
const GLOBEX = 'globex-key-0123456789ABCDEFGHIJKLMNOPQRS';
const ADMIN = 'admin_key_ZYXWVUTSRQPONMLKJIHGFEDCBA0123';
const INSTANT = { payment: 0, vendor: 0, courier: 0 };
const ACCESS = {
  mode: 'keys' as const,
  clients: [
    { client: 'acme', key: ACME },
    { client: 'globex', key: GLOBEX },
  ],
  adminKeys: [ADMIN],
};

let server: TestPostgres | undefined;
let databaseUrl: string;
let a: TestService;
let b: TestService;
const receivers: Receiver[] = [];
beforeAll(async () => {
  if (POSTGRES_UNAVAILABLE !== undefined) return;
  server = await startTestPostgres();
  databaseUrl = await freshDatabase(server);
  const config = {
    durable: { databaseUrl, leaseMs: 3000, poolSize: 4 },
    access: ACCESS,
    events: { ...TEST_CONFIG.events, allowPrivateTargets: true, retryFirstMs: 50 },
  };
  [a, b] = [await startTestService({ config }), await startTestService({ config })];
});
afterAll(async () => {
  if (a) await expectAtRest(a, 2);
  await Promise.all([a?.shutdown(), b?.shutdown()]);
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await server?.stop();
});

async function receiver(): Promise<Receiver> {
  const started = await startReceiver();
  receivers.push(started);
  return started;
}

/** A request as a client's: a read turned away for a while (503, Retry-After) is asked again when it says. */
const call = (svc: TestService, method: string, path: string, key: string, body?: unknown): Promise<RawResponse> =>
  (method === 'GET' ? rawRequestFollowingRetryAfter : rawRequest)(svc.url, {
    method,
    path,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`webhooks on Postgres${POSTGRES_SKIPPED}`, () => {
  it('two clients, two instances: each receives exactly its own events, signed, as GET /orders/{id} says, in order', async () => {
    const [acmeHook, globexHook] = [await receiver(), await receiver()];
    // The first attempt of each event fails: the retry comes with the same id, and an order's events stay in order.
    acmeHook.answer = (_delivery, attempt) => (attempt === 1 ? 500 : 204);
    const register = async (svc: TestService, key: string, url: string): Promise<string> => {
      const response = await call(svc, 'POST', '/webhooks', key, { url });
      expect(response.status, response.text).toBe(201);
      return (response.json() as { secret: string }).secret;
    };
    const acmeSecret = await register(a, ACME, acmeHook.url);
    const globexSecret = await register(a, GLOBEX, globexHook.url);
    // Shared: the other instance lists them.
    expect((await call(b, 'GET', '/webhooks', ACME)).json()).toMatchObject({ webhooks: [{ url: acmeHook.url }] });

    const bodies = (key: string) => [
      { key, body: orderBody({ delay_ms: INSTANT }) },
      { key, body: orderBody({ delay_ms: INSTANT, fail_step: 'payment' }) },
      { key, body: orderBody({ delay_ms: { ...INSTANT, vendor: 20 }, fail_step: 'vendor' }) },
      { key, body: orderBody({ delay_ms: { ...INSTANT, vendor: 20 }, fail_step: 'vendor', fail_compensation: true }) },
    ];
    const sent = [...bodies(ACME), ...bodies(GLOBEX)];
    const answers = await Promise.all(sent.map(({ key, body }, i) => (i % 2 ? b : a).order(body, { key })));
    expect(answers.map((answer) => answer.status)).toEqual([200, 400, 503, 500, 200, 400, 503, 500]);

    for (const [key, hook, secret, client] of [
      [ACME, acmeHook, acmeSecret, 'acme'],
      [GLOBEX, globexHook, globexSecret, 'globex'],
    ] as const) {
      const mine = sent.filter((order) => order.key === key).map(({ body }) => body['order_id'] as string);
      const statuses = await Promise.all(
        mine.map(async (id) => {
          const read = await call(a, 'GET', `/orders/${id}`, key);
          expect(read.status, read.text).toBe(200);
          return read.json() as OrderStatusJson;
        }),
      );
      const expected = statuses.flatMap(expectedTypes);
      const deliveries = key === ACME ? 2 * expected.length : expected.length;
      await eventually(
        async () => hook.deliveries.length,
        (n) => n >= deliveries,
        // As long as a delivery may take: beside four busy loops 10 had come at 15 s (the thread runs at niceness 10).
        { within: DELIVERED_WITHIN_MS, every: 50 },
      );
      const events = hook.verified(secret);
      expect(events.every((event) => event.client === client)).toBe(true);
      const firsts = events.filter((event, i) => events.findIndex((other) => other.id === event.id) === i);
      expect(firsts).toHaveLength(expected.length);
      for (const [i, id] of mine.entries()) {
        const ofOrder = firsts.filter((event) => event.data.order_id === id);
        expect(ofOrder.map((event) => event.type)).toEqual(expectedTypes(statuses[i]!));
        for (const event of ofOrder) {
          expect(event.data.outcome).toEqual(statuses[i]!.outcome);
          expect(event.data.payment).toEqual(statuses[i]!.payment);
        }
      }
      if (key === ACME)
        for (const event of firsts)
          expect(
            events.filter((other) => other.id === event.id),
            'each event twice: failed, then again',
          ).toHaveLength(2);
    }

    // The feed, from the other instance, a page of 2 at a time: every event once, only the caller's.
    const seen: string[] = [];
    let after = '';
    for (;;) {
      const response = await call(b, 'GET', `/events?limit=2${after ? `&after=${after}` : ''}`, GLOBEX);
      expect(response.status, response.text).toBe(200);
      const page = response.json() as {
        events: Array<{ id: string; client: string }>;
        next: string;
        has_more: boolean;
      };
      expect(page.events.every((event) => event.client === 'globex')).toBe(true);
      seen.push(...page.events.map((event) => event.id));
      after = page.next;
      if (!page.has_more) break;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(new Set(seen)).toEqual(new Set(globexHook.verified(globexSecret).map((event) => event.id)));
    const foreign = await call(b, 'GET', `/events?after=${after}`, ACME);
    expect(foreign.status).toBe(400);
  });

  it('410 disables an endpoint for every instance; the admin redelivers an event', { timeout: 90_000 }, async () => {
    const hook = await receiver();
    hook.answer = () => 410;
    const response = await call(a, 'POST', '/webhooks', GLOBEX, { url: hook.url });
    const { id } = response.json() as { id: string };
    await b.order(orderBody({ delay_ms: INSTANT }), { key: GLOBEX });
    await eventually(
      async () => ({
        ...((await call(b, 'GET', '/webhooks', GLOBEX)).json() as { webhooks: Array<Record<string, unknown>> }),
        // What a failure says of its cause: whether the endpoint was sent anything.
        answered410: hook.deliveries.length,
      }),
      ({ webhooks }) => webhooks.some((webhook) => webhook['id'] === id && webhook['disabled_reason'] === 'gone'),
      { within: DELIVERED_WITHIN_MS },
    );
    const eventId = hook.deliveries[0]!.headers['webhook-id'] as string;
    hook.answer = () => 204;
    const acmeHook = await receiver();
    await call(a, 'POST', '/webhooks', ACME, { url: acmeHook.url });
    await a.order(orderBody({ delay_ms: INSTANT }), { key: ACME });
    await eventually(
      async () => acmeHook.deliveries.length,
      (n) => n >= 1,
      { within: DELIVERED_WITHIN_MS },
    );
    const acmeEvent = acmeHook.deliveries[0]!.headers['webhook-id'] as string;
    const again = await call(b, 'POST', `/admin/events/${acmeEvent}/redeliver`, ADMIN);
    expect(again.status, again.text).toBe(202);
    await eventually(
      async () => acmeHook.deliveries.filter((delivery) => delivery.headers['webhook-id'] === acmeEvent).length,
      (n) => n === 2,
      { within: DELIVERED_WITHIN_MS },
    );
    // Nothing more went to the disabled endpoint.
    expect(hook.deliveries.every((delivery) => delivery.headers['webhook-id'] === eventId)).toBe(true);
  });

  /**
   * A globex order whose first delivery, to a receiver of its own, is held until `answerFirst`; every later one is
   * answered at once (a later order's too: the next tests' go to every endpoint of the client).
   */
  async function firstDeliveryHeld(orderId: string) {
    const hook = await receiver();
    let answerFirst!: (status: number) => void;
    hook.answer = () =>
      hook.deliveries.length === 1 ? new Promise<number>((resolve) => (answerFirst = resolve)) : 204;
    expect((await call(a, 'POST', '/webhooks', GLOBEX, { url: hook.url })).status).toBe(201);
    await a.order(orderBody({ order_id: orderId, delay_ms: INSTANT }), { key: GLOBEX });
    await eventually(
      async () => hook.deliveries.length,
      (n) => n >= 1,
      { within: DELIVERED_WITHIN_MS },
    );
    const eventId = hook.deliveries[0]!.headers['webhook-id'] as string;
    const deliveredAgain = () =>
      eventually(
        async () => hook.deliveries.filter((delivery) => delivery.headers['webhook-id'] === eventId).length,
        (n) => n === 2,
        { within: DELIVERED_WITHIN_MS },
      );
    return { eventId, answerFirst, deliveredAgain };
  }

  it('a redelivery asked for while the event is still being sent is sent again once that send ends', async () => {
    const { eventId, answerFirst, deliveredAgain } = await firstDeliveryHeld(randomUUID());
    const again = await call(b, 'POST', `/admin/events/${eventId}/redeliver`, ADMIN);
    expect(again.status, again.text).toBe(202);
    // The first send succeeds only now, after the redelivery was asked for: before, its job marked the row the
    // redelivery had just reset as delivered, and the event never came again.
    answerFirst(204);
    await deliveredAgain();
  });

  it('a job freed while it still runs (its instance judged lost) does not take a new event’s delivery with it when it ends', async () => {
    const orderId = randomUUID();
    const { eventId, answerFirst, deliveredAgain } = await firstDeliveryHeld(orderId);
    // As an instance whose pool is judged lost has its jobs freed (pg-webhook-lanes.ts, UNLOCK_LOST) while it may
    // still be sending: the job's row only, so that no other instance claims it before this one ends it.
    const freed = await sql(
      databaseUrl,
      `UPDATE graphile_worker._private_jobs SET locked_at = NULL, locked_by = NULL
        WHERE payload->>'order' = 'globex:' || $1 AND locked_by IS NOT NULL RETURNING id`,
      [orderId],
    );
    expect(freed).toHaveLength(1);
    // The redelivery's job, keyed by the order, is the freed row's key: before, it was written into that row, which
    // the running job then deleted as its own when it ended, and the event never came again (a chaos run's loss).
    expect((await call(b, 'POST', `/admin/events/${eventId}/redeliver`, ADMIN)).status).toBe(202);
    answerFirst(204);
    await deliveredAgain();
  });

  it('a job freed, claimed by another instance and then ended by its first run leaves no lock that holds its order’s later events', async () => {
    const orderId = randomUUID();
    const { eventId, answerFirst, deliveredAgain } = await firstDeliveryHeld(orderId);
    // As a job freed from a pool judged lost (UNLOCK_LOST) and claimed by another instance's pool, while its first
    // run still sends: the job and its queue, locked by that other pool in one statement, as graphile-worker does.
    const claimed = await sql(
      databaseUrl,
      `WITH j AS (UPDATE graphile_worker._private_jobs SET locked_at = now(), locked_by = 'another_instance_pool'
                   WHERE payload->>'order' = 'globex:' || $1 AND locked_by IS NOT NULL RETURNING job_queue_id)
       UPDATE graphile_worker._private_job_queues q SET locked_at = now(), locked_by = 'another_instance_pool'
         FROM j WHERE q.id = j.job_queue_id RETURNING q.id`,
      [orderId],
    );
    expect(claimed).toHaveLength(1);
    // The first run ends: graphile-worker deletes the job by id, whoever holds it, and leaves the other pool's queue
    // lock, which that pool's own completion, finding no row, would never let go: before, the redelivery's job waited
    // behind it for graphile-worker's four hours (a chaos run's ten lost events).
    answerFirst(204);
    expect((await call(b, 'POST', `/admin/events/${eventId}/redeliver`, ADMIN)).status).toBe(202);
    await deliveredAgain();
  });

  it("a done order's queue goes once its events are delivered: claims lock every queue left, and slowed with each order ever delivered", async () => {
    const hook = await receiver();
    expect((await call(b, 'POST', '/webhooks', GLOBEX, { url: hook.url })).status).toBe(201);
    const bodies = Array.from({ length: 20 }, () => orderBody({ delay_ms: INSTANT }));
    for (const body of bodies) expect((await b.order(body, { key: GLOBEX })).status).toBe(200);
    const queues = bodies.map((body) => `webhook:globex:${String(body['order_id'])}`);
    const delivered = (): Set<string> =>
      new Set(
        hook.deliveries.map((delivery) => (JSON.parse(delivery.body) as { data: { order_id: string } }).data.order_id),
      );
    await eventually(
      async () => bodies.filter((body) => !delivered().has(String(body['order_id']))).length,
      (undelivered) => undelivered === 0,
      { within: DELIVERED_WITHIN_MS },
    );
    // Before: every order's queue stayed, one row per order ever delivered.
    await eventually(
      async () =>
        (
          await sql<{ left: number }>(
            databaseUrl,
            'SELECT count(*)::int AS left FROM graphile_worker._private_job_queues WHERE queue_name = ANY ($1)',
            [queues],
          )
        )[0]!.left,
      (left) => left === 0,
      { within: 5000, every: 100 },
    );
  });

  it("one order, two endpoints: one graphile-worker job delivers to both (a job is the bulk of a delivery's cost)", async () => {
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      // graphile-worker's own table, watched: every job added, whoever adds it.
      await db.query(`CREATE TABLE IF NOT EXISTS test_jobs_added (payload json);
        CREATE OR REPLACE FUNCTION test_job_added() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO test_jobs_added VALUES (NEW.payload); RETURN NULL; END $$;
        CREATE OR REPLACE TRIGGER test_job_added AFTER INSERT ON graphile_worker._private_jobs
          FOR EACH ROW EXECUTE FUNCTION test_job_added();`);
      // Globex's endpoints all answer 2xx (acme's first test receiver fails first attempts: a retry is a job).
      const hooks = [await receiver(), await receiver()];
      for (const hook of hooks)
        expect((await call(a, 'POST', '/webhooks', GLOBEX, { url: hook.url })).status).toBe(201);
      const body = orderBody({ delay_ms: INSTANT });
      expect((await a.order(body, { key: GLOBEX })).status).toBe(200);
      for (const hook of hooks)
        await eventually(
          async () => hook.deliveries.length,
          (n) => n >= 1,
          { within: DELIVERED_WITHIN_MS },
        );
      const { rows } = await db.query<{ jobs: number }>(
        `SELECT count(*)::int AS jobs FROM test_jobs_added WHERE payload->>'order' = 'globex:' || $1`,
        [body['order_id']],
      );
      expect(rows[0]!.jobs).toBe(1);
    } finally {
      await db.query('DROP TRIGGER IF EXISTS test_job_added ON graphile_worker._private_jobs').catch(() => {});
      await db.end();
    }
  });

  it('a lane waiting a second or more for its retry waits in no named queue, which every claim would lock, and is delivered when its wait ends', async () => {
    const hook = await receiver();
    let failing = true;
    hook.answer = () => (failing ? 500 : 204);
    const { id: endpoint } = (await call(a, 'POST', '/webhooks', GLOBEX, { url: hook.url })).json() as { id: string };
    try {
      const body = orderBody({ delay_ms: INSTANT });
      expect((await a.order(body, { key: GLOBEX })).status).toBe(200);
      const key = `webhook:globex:${String(body['order_id'])}`;
      // Retries 25-50 ms apart at first, four times longer each: within a few attempts the lane waits a second.
      const [waiting] = await eventually(
        async () =>
          sql<{ queue: number | null }>(
            databaseUrl,
            "SELECT job_queue_id AS queue FROM graphile_worker._private_jobs WHERE key = $1 AND locked_at IS NULL AND run_at > now() + interval '1 second'",
            [key],
          ),
        (jobs) => jobs.length === 1,
        { within: DELIVERED_WITHIN_MS, every: 20 },
      );
      expect(waiting!.queue).toBeNull();
      failing = false;
      await eventually(
        async () =>
          sql<{ done: boolean }>(
            databaseUrl,
            "SELECT d.done_at IS NOT NULL AND d.outcome = 'delivered' AS done FROM event_deliveries d WHERE d.endpoint_id = $1 AND d.order_id = $2",
            [endpoint, `globex:${String(body['order_id'])}`],
          ),
        (rows) => rows.length > 0 && rows.every((row) => row.done),
        { within: DELIVERED_WITHIN_MS, every: 100 },
      );
    } finally {
      await call(a, 'DELETE', `/webhooks/${endpoint}`, GLOBEX);
    }
  });

  it('past the retry window, a failing event is given up where its endpoint took others meanwhile, and an endpoint that took none is disabled', async () => {
    // A database and an instance of their own: a and b would claim these jobs under their own (three days') window.
    // The window is an hour, and its end is not waited for: once the endpoints have done what the test needs, their
    // failing deliveries' first attempts are moved an hour back. Within a window of a second, the other event had to
    // reach picky within the doomed one's four attempts (0.4 s), which a busy machine's delivery outlasted (the doomed
    // event's endpoint was then disabled as one that took nothing).
    const url = await freshDatabase(server!);
    const short = await startTestService({
      config: {
        durable: { databaseUrl: url, leaseMs: 3000, poolSize: 4 },
        access: ACCESS,
        events: {
          ...TEST_CONFIG.events,
          allowPrivateTargets: true,
          retryFirstMs: 20,
          retryMaxMs: 100,
          retryWindowMs: 3_600_000,
        },
      },
    });
    try {
      const [picky, failing] = [await receiver(), await receiver()];
      const doomed = orderBody({ delay_ms: INSTANT });
      picky.answer = (delivery) => (delivery.body.includes(String(doomed['order_id'])) ? 500 : 204);
      failing.answer = () => 500;
      expect((await call(short, 'POST', '/webhooks', ACME, { url: picky.url })).status).toBe(201);
      const failingId = (
        (await call(short, 'POST', '/webhooks', GLOBEX, { url: failing.url })).json() as { id: string }
      ).id;
      expect((await short.order(doomed, { key: ACME })).status).toBe(200);
      expect((await short.order(orderBody({ delay_ms: INSTANT }), { key: GLOBEX })).status).toBe(200);
      // picky takes another order's event while the doomed one's attempts fail.
      await eventually(
        async () => picky.deliveries.some((delivery) => delivery.body.includes(String(doomed['order_id']))),
        Boolean,
        { within: DELIVERED_WITHIN_MS },
      );
      const other = orderBody({ delay_ms: INSTANT });
      expect((await short.order(other, { key: ACME })).status).toBe(200);
      await eventually(
        async () => picky.deliveries.some((delivery) => delivery.body.includes(String(other['order_id']))),
        Boolean,
        { within: DELIVERED_WITHIN_MS },
      );
      // Every delivery still owed has failed once (its window begun): then the hour has passed for each.
      await eventually(
        () =>
          sql<{ unattempted: number }>(
            url,
            'SELECT count(*)::int AS unattempted FROM event_deliveries WHERE done_at IS NULL AND first_attempt_at IS NULL',
          ),
        ([row]) => row?.unattempted === 0,
        { within: DELIVERED_WITHIN_MS, every: 50 },
      );
      await sql(
        url,
        "UPDATE event_deliveries SET first_attempt_at = first_attempt_at - interval '1 hour' WHERE done_at IS NULL",
      );
      const outcomes = await eventually(
        () =>
          sql<{ outcome: string | null }>(url, "SELECT outcome FROM event_deliveries WHERE order_id = 'acme:' || $1", [
            doomed['order_id'],
          ]),
        (rows) => rows.length > 0 && rows.every((row) => row.outcome === 'given_up'),
        { within: DELIVERED_WITHIN_MS, every: 100 },
      );
      expect(outcomes.length).toBeGreaterThan(0);
      const listed = await eventually(
        async () =>
          (await call(short, 'GET', '/webhooks', GLOBEX)).json() as { webhooks: Array<Record<string, unknown>> },
        ({ webhooks }) => webhooks.some((webhook) => webhook['id'] === failingId && webhook['status'] === 'disabled'),
        { within: DELIVERED_WITHIN_MS, every: 100 },
      );
      expect(listed.webhooks.find((webhook) => webhook['id'] === failingId)).toMatchObject({
        disabled_reason: 'failing',
      });
      expect(failing.deliveries.length).toBeGreaterThan(1);
      await expectAtRest(short, 2);
    } finally {
      await short.shutdown();
    }
  });

  it('a client whose endpoint hangs and whose events flood holds only its share of the jobs: another client’s events still arrive within 3 s of what they take alone', async () => {
    // acme's receiver answers nothing until released: each job sending to it holds its worker until the timeout (10 s).
    // More of acme's orders than both instances' workers (16 each); without shares, globex's job waited for them.
    const slow = await startHangingReceiver();
    const fast = await receiver();
    const endpoint = async (key: string, url: string): Promise<string> =>
      ((await call(a, 'POST', '/webhooks', key, { url })).json() as { id: string }).id;
    const acme = await endpoint(ACME, slow.url);
    const globex = await endpoint(GLOBEX, fast.url);
    /** globex's three orders sent at once: the ms until their events have all arrived. */
    const globexDelivered = async (): Promise<number> => {
      const [startedAt, before] = [performance.now(), fast.deliveries.length];
      await Promise.all(Array.from({ length: 3 }, () => a.order(orderBody({ delay_ms: INSTANT }), { key: GLOBEX })));
      await eventually(
        async () => fast.deliveries.length,
        (n) => n >= before + 3,
        { within: DELIVERED_WITHIN_MS },
      );
      return performance.now() - startedAt;
    };
    try {
      // The control, in the same run: beside four busy loops the same three took 3,046 ms beside acme's held jobs,
      // the machine's doing and not acme's; without shares they waited for the hanging endpoint's timeout, 10 s.
      const alone = await globexDelivered();
      for (let i = 0; i < 48; i += 16)
        await Promise.all(
          Array.from({ length: 16 }, (_, j) => (j % 2 ? b : a).order(orderBody({ delay_ms: INSTANT }), { key: ACME })),
        );
      await eventually(
        async () => slow.held,
        (n) => n >= 8,
        { within: DELIVERED_WITHIN_MS },
      );
      const besideHeld = await globexDelivered();
      expect(besideHeld, `globex's events alone: ${Math.round(alone)} ms`).toBeLessThan(alone + 3000);
    } finally {
      for (const id of [acme, globex]) await call(a, 'DELETE', `/webhooks/${id}`, id === acme ? ACME : GLOBEX);
      await slow.close();
    }
  });
});
