/**
 * Forward recovery with real processes on a real Postgres: two instances
 * take 200 orders accepted now and answered later (`Prefer: respond-async`,
 * `deadline_ms` 30 s, steps of 300–800 ms); one is SIGKILLed while its
 * orders run. The other takes them over once its lease has lapsed and runs
 * them on after their recorded steps: they end succeeded, each step
 * recorded once, each order charged once, the money balanced, and every
 * order's end told in its client's feed once.
 *
 * Prints its seed (the orders' step delays) and the recovery time: from the
 * kill to the last order taken over and resumed, and to the last of them
 * done.
 */
import { describe, expect, it } from 'vitest';
import type { ServerProcess } from '../../load/lib/server-process.js';
import { orderBody } from '../support/orders.js';
import { freshDatabase, POSTGRES_SKIPPED, POSTGRES_UNAVAILABLE, sql } from '../support/postgres.js';
import { parseSamples, sampleKey } from '../support/prometheus.js';
import { mulberry32 } from '../support/random.js';
import { isRunning, jsonLines, usePostgresInstances } from '../support/server-instances.js';
import { eventually, pause } from '../support/wait.js';
import { readFollowingRetryAfter } from '../support/http.js';

const postgres = usePostgresInstances();

// Short, so that the takeover comes within the test; long enough not to lapse on a busy machine.
const LEASE_MS = 2000;
const ORDERS = 200;
const AMOUNT = 1200;
const DEADLINE_MS = 30_000;
/** A buffered log line is written within a second (src/observability/logging.ts); the rest is a busy machine's. */
const LOG_WRITTEN_WITHIN_MS = 2000;

/** An instance on `databaseUrl`, couriers enough for every order at once. */
const instance = (databaseUrl: string, env: Record<string, string> = {}): Promise<ServerProcess> =>
  postgres.instance(databaseUrl, { LEASE_MS: String(LEASE_MS), COURIERS: String(ORDERS), ...env });

interface OrderStatus {
  readonly state: string;
  readonly runs: number;
  readonly lifecycle: string;
  readonly outcome: { readonly kind: string } | null;
  readonly payment: { readonly charged: number; readonly refunded: number };
}

async function health(target: ServerProcess): Promise<{ durable: { instance_id: string } }> {
  return (await (await fetch(new URL('/healthz', target.url))).json()) as never;
}

/** POST /admin/orders/{id}/redrive (open mode: every caller is the admin). */
async function redrive(target: ServerProcess, orderId: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(new URL(`/admin/orders/${orderId}/redrive`, target.url), { method: 'POST' });
  return { status: response.status, body: await response.json() };
}

/** The types of the events of order `lost-twice` in the feed, oldest first. */
const told = (events: readonly EventJson[]): string[] =>
  events.filter((event) => event.data.order_id === 'lost-twice').map((event) => event.type);

/** The types of order `lost-twice`'s events in `target`'s feed once it lists `count` of them (`feedOnce`). */
const toldOnce = async (target: ServerProcess, count: number): Promise<string[]> =>
  told(await feedOnce(target, (read) => told(read).length >= count));

async function orderStatus(target: ServerProcess, orderId: string): Promise<OrderStatus | undefined> {
  const response = await readFollowingRetryAfter(new URL(`/orders/${orderId}`, target.url));
  return response.status === 404 ? undefined : ((await response.json()) as OrderStatus);
}

/** A fresh database, and two instances on it. */
async function twoInstances(env: Record<string, string> = {}): Promise<[string, ServerProcess, ServerProcess]> {
  const url = await freshDatabase(postgres.server());
  return [url, ...(await Promise.all([instance(url, env), instance(url, env)]))];
}

interface AttemptJson {
  readonly step: string;
  readonly takeovers: number;
  readonly thread_id: number | null;
  readonly instance_id: string;
  readonly started_at: string;
  readonly ended_at: string;
  readonly outcome: string;
}

/** GET /orders/{id}/timeline's step attempts (open mode: every caller is the admin), oldest first. */
async function attemptsOf(target: ServerProcess, orderId: string): Promise<AttemptJson[]> {
  const response = await readFollowingRetryAfter(new URL(`/orders/${orderId}/timeline`, target.url));
  return ((await response.json()) as { step_attempts: AttemptJson[] }).step_attempts;
}

/** Order `orderId` once it has ended, as `target` tells it. */
const untilDone = (target: ServerProcess, orderId: string): Promise<OrderStatus | undefined> =>
  eventually(
    () => orderStatus(target, orderId),
    (status) => status?.state === 'done',
    { within: 15_000, every: 50 },
  );

/** The order sent to be answered later: 202, or the status and body of what was answered instead. */
async function acceptAnswer(target: ServerProcess, body: Record<string, unknown>): Promise<202 | string> {
  const response = await fetch(new URL('/order', target.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'respond-async' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return response.status === 202 ? 202 : `${response.status} ${text}`;
}

const accept = async (target: ServerProcess, body: Record<string, unknown>): Promise<number> => {
  const answer = await acceptAnswer(target, body);
  return answer === 202 ? 202 : Number(answer.slice(0, 3));
};

/**
 * Order `orderId` accepted on `target` with a deadline of its own: its payment and courier done at once, and recorded,
 * while its vendor runs `vendorMs`. Its body.
 */
async function acceptedVendorRunning(
  url: string,
  target: ServerProcess,
  orderId: string,
  vendorMs: number,
): Promise<Record<string, unknown>> {
  const body = orderBody({
    order_id: orderId,
    amount: AMOUNT,
    deadline_ms: DEADLINE_MS,
    delay_ms: { payment: 0, vendor: vendorMs, courier: 0 },
  });
  expect(await accept(target, body)).toBe(202);
  await eventually(
    () => sql<{ n: number }>(url, `SELECT count(*)::int AS n FROM order_steps WHERE outcome = 'ok'`),
    ([row]) => row!.n === 2,
  );
  return body;
}

interface OrderRow {
  readonly order_id: string;
  readonly state: string;
  readonly kind: string | null;
  readonly recoveries: number;
}

interface EventJson {
  readonly type: string;
  readonly data: { readonly order_id: string; readonly payment: { readonly charged: number } };
}

/**
 * The feed once `done` says it lists what a test waits for (within 10 s), as every read of it right after orders end
 * must: it lists an event once no transaction still open can come before it, so an order done a moment ago can have its
 * events held back. Seen: a succeeded order's event, then a dead-lettered order's two, missing from a feed read the
 * moment the orders were done.
 */
const feedOnce = (target: ServerProcess, done: (read: EventJson[]) => boolean): Promise<EventJson[]> =>
  eventually(() => feed(target), done, { within: 10_000, every: 200 });

/** Every event of the (open mode's one) client, read page by page from its feed. */
async function feed(target: ServerProcess): Promise<EventJson[]> {
  const events: EventJson[] = [];
  for (let after: string | undefined; ;) {
    const url = new URL(`/events?limit=1000${after ? `&after=${encodeURIComponent(after)}` : ''}`, target.url);
    const read = await readFollowingRetryAfter(url);
    expect(read.status).toBe(200);
    const page = (await read.json()) as { events: EventJson[]; next: string; has_more: boolean };
    events.push(...page.events);
    if (!page.has_more) return events;
    after = page.next;
  }
}

interface LogLine {
  readonly msg?: string;
  readonly audit?: string;
  readonly time?: number;
  readonly order_id?: string;
}

const logLines = (target: ServerProcess): LogLine[] => jsonLines<LogLine>(target);

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(
  `an instance killed while its orders run${POSTGRES_SKIPPED}`,
  () => {
    it(
      'has its orders resumed by the other after their recorded steps: succeeded, each step once, charged once',
      { timeout: 60_000 },
      async () => {
        const seed = Number(process.env['SEED'] ?? Math.floor(Math.random() * 2 ** 31));
        console.log(`durable-resume seed ${seed} (SEED=${seed} draws the same delays)`);
        const random = mulberry32(seed);
        const delay = (): number => 300 + Math.floor(random() * 501);
        const [url, lost, survivor] = await twoInstances();

        // Sent ten at a time every 100 ms, half to each instance, until one dies halfway through with its latest orders still
        // running; the rest go to the other. Every order is sent once.
        const bodies = Array.from({ length: ORDERS }, (_, i) =>
          orderBody({
            order_id: `resume-${i}`,
            amount: AMOUNT,
            deadline_ms: DEADLINE_MS,
            delay_ms: { payment: delay(), vendor: delay(), courier: delay() },
          }),
        );
        const target = (n: number): ServerProcess => (n % 2 === 1 && isRunning(lost) ? lost : survivor);
        const answers: Array<202 | string> = [];
        const lostId = (await health(lost)).durable.instance_id;
        let killedAt = 0;
        for (let i = 0; i < ORDERS; i += 10) {
          if (i === ORDERS / 2) {
            // By the lost instance's id: an order's owner is the survivor if it went there, and nobody once it is done.
            const [running] = await sql<{ n: number }>(
              url,
              `SELECT count(*)::int AS n FROM orders WHERE state = 'running' AND owner = $1`,
              [lostId],
            );
            lost.child.kill('SIGKILL');
            killedAt = Date.now();
            await lost.exited;
            expect(running!.n, 'orders running on the instance as it is killed').toBeGreaterThan(0);
          }
          answers.push(
            ...(await Promise.all(bodies.slice(i, i + 10).map((body, j) => acceptAnswer(target(i + j), body)))),
          );
          await pause(100);
        }
        expect(answers.filter((answer) => answer !== 202)).toEqual([]);

        const rows = await eventually(
          () => sql<OrderRow>(url, 'SELECT order_id, state, kind, recoveries FROM orders ORDER BY order_id'),
          (found) => found.length === ORDERS && found.every((row) => row.state === 'done'),
          // Each order within its deadline, counted from the kill: later than any of them was sent.
          { within: DEADLINE_MS, every: 100 },
        );
        const doneAt = Date.now();
        const resumed = rows.filter((row) => row.recoveries > 0);
        const succeeded = rows.filter((row) => row.kind === 'ok');
        expect(resumed.length, 'orders taken over and resumed').toBeGreaterThan(0);
        const failed = rows.filter((row) => row.kind !== 'ok');
        const aboutFailed = logLines(survivor).filter((line) =>
          failed.some((row) => row.order_id.endsWith(`:${line.order_id}`)),
        );
        expect(succeeded.length, JSON.stringify({ failed, aboutFailed })).toBeGreaterThanOrEqual(
          Math.ceil(ORDERS * 0.99),
        );
        expect(resumed.filter((row) => row.kind !== 'ok')).toEqual([]);

        // Each step of each order recorded once, ok, for the order's one run; a resumed order's steps that had ended
        // before the kill stand as the lost instance recorded them (attempt 1), and only the others ran again (attempt 2).
        const steps = await sql<{ order_id: string; step: string; attempt: number; outcome: string }>(
          url,
          `SELECT s.order_id, s.step, s.attempt, s.outcome FROM order_steps s JOIN orders o USING (order_id, run)`,
        );
        for (const row of succeeded) {
          const own = steps.filter((step) => step.order_id === row.order_id);
          expect(own.map((step) => `${step.step} ${step.outcome}`).sort(), row.order_id).toEqual([
            'courier ok',
            'payment ok',
            'vendor ok',
          ]);
          expect(own.every((step) => step.attempt <= 1 + row.recoveries)).toBe(true);
        }
        const resumedSteps = steps.filter((step) => resumed.some((row) => row.order_id === step.order_id));
        expect(resumedSteps.some((step) => step.attempt === 2)).toBe(true);

        // Charged once: one run at the provider per order, its amount; and the money balanced — a succeeded order holds its
        // amount, any other nothing.
        const books = await sql<{ order_id: string; runs: number; charged: string; refunded: string }>(
          url,
          `SELECT order_id, count(*)::int AS runs, sum(charged) AS charged, sum(refunded) AS refunded
         FROM provider_payments GROUP BY order_id`,
        );
        for (const row of succeeded) {
          const book = books.find((entry) => entry.order_id === row.order_id);
          expect(book, row.order_id).toMatchObject({ runs: 1, charged: String(AMOUNT), refunded: '0' });
        }
        const breaches = await sql(
          url,
          `SELECT o.order_id, o.kind, p.charged - p.refunded AS net
         FROM orders o JOIN provider_payments p USING (order_id)
        WHERE p.charged - p.refunded <> CASE WHEN p.run = o.run AND o.kind = 'ok' THEN ${AMOUNT} ELSE 0 END`,
        );
        expect(breaches).toEqual([]);

        // Every order's end told once in its client's feed, and nothing else of it: no interruption the order came back
        // from.
        const inFeed = (read: readonly EventJson[], row: OrderRow): boolean =>
          read.some((event) => event.data.order_id === row.order_id.slice('anonymous:'.length));
        const events = await feedOnce(survivor, (read) => rows.every((row) => inFeed(read, row)));
        for (const row of rows) {
          const id = row.order_id.slice('anonymous:'.length);
          const told = events.filter((event) => event.data.order_id === id);
          if (row.kind === 'ok')
            expect(told.map((event) => [event.type, event.data.payment.charged])).toEqual([
              ['order.succeeded', AMOUNT],
            ]);
          else expect(told.map((event) => event.type)).toContain('order.failed');
        }

        // The survivor's lines are gathered and written within a second (LOG_BUFFER, on for a pipe): the last takeover
        // can be less than that before this read (a full run read 19 of 21).
        const takeovers = await eventually(
          async () => logLines(survivor).filter((line) => /resumed after its recorded steps/.test(line.msg ?? '')),
          (found) => found.length >= resumed.length,
          { within: LOG_WRITTEN_WITHIN_MS, every: 100 },
        );
        expect(takeovers.length).toBe(resumed.length);
        const lastTakeover = Math.max(...takeovers.map((line) => line.time ?? 0));
        console.log(
          `durable-resume: ${resumed.length} of ${ORDERS} orders resumed, ${succeeded.length} succeeded; ` +
            `recovery time ${lastTakeover - killedAt} ms from the kill to the last order resumed ` +
            `(lease ${LEASE_MS} ms), ${doneAt - killedAt} ms to every order done`,
        );
        expect(isRunning(survivor)).toBe(true);
        const survivorHealth = (await (await fetch(new URL('/healthz', survivor.url))).json()) as {
          orders_in_flight: number;
        };
        expect(survivorHealth.orders_in_flight).toBe(0);
      },
    );

    it(
      'parks an order taken over more than ORDER_RECOVERIES_MAX times dead_lettered; the admin redrives it once its money is settled',
      { timeout: 60_000 },
      async () => {
        const url = await freshDatabase(postgres.server());
        const env = { ORDER_RECOVERIES_MAX: '1' };
        const instances = await Promise.all([instance(url, env), instance(url, env), instance(url, env)]);
        const [first] = instances;
        const firstId = (await health(first)).durable.instance_id;
        // Its vendor outlasts a takeover.
        const body = await acceptedVendorRunning(url, first, 'lost-twice', 4000);
        first.child.kill('SIGKILL');
        // Taken over once, by one of the others: resumed (its recorded steps not asked again). That one is lost too.
        await eventually(
          () => orderStatus(instances[1], 'lost-twice'),
          (status) => status?.lifecycle === 'resumed',
          { within: 4 * LEASE_MS, every: 20 },
        );
        const [owner] = await sql<{ owner: string }>(url, `SELECT owner FROM orders`);
        const ids = await Promise.all(
          instances.slice(1).map(async (target) => (await health(target)).durable.instance_id),
        );
        const resumer = instances[1 + ids.indexOf(owner!.owner)]!;
        const third = instances.find((target) => target !== first && target !== resumer)!;
        resumer.child.kill('SIGKILL');
        const parked = await eventually(
          () => orderStatus(third, 'lost-twice'),
          (status) => status?.state === 'done',
          { within: 4 * LEASE_MS, every: 50 },
        );
        expect(parked).toMatchObject({
          lifecycle: 'dead_lettered',
          outcome: { kind: 'dead_lettered' },
          payment: { charged: AMOUNT, refunded: AMOUNT },
        });
        expect(await toldOnce(third, 2)).toEqual(['order.dead_lettered', 'payment.refunded']);
        // Its vendor lost twice: under way on the first instance from the run's start, then on the one that resumed it
        // from that takeover; each on the instance it was lost with.
        const vendor = (await attemptsOf(third, 'lost-twice')).filter((attempt) => attempt.step === 'vendor');
        expect(vendor).toMatchObject([
          { outcome: 'lost', instance_id: firstId, takeovers: 0 },
          { outcome: 'lost', instance_id: owner!.owner, takeovers: 1 },
        ]);
        expect(vendor[1]!.started_at).toBe(vendor[0]!.ended_at);
        expect(logLines(third).filter((line) => /^order dead-lettered/.test(line.msg ?? ''))).toHaveLength(1);
        const samples = parseSamples(await (await fetch(new URL('/metrics', third.url))).text());
        expect(samples.get(sampleKey('orders_dead_lettered_total'))).toBe(1);
        // Final: a retry is told so, never run afresh.
        const retry = await fetch(new URL('/order', third.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        const retried = (await retry.json()) as { error: { kind: string } };
        expect(retry.status, JSON.stringify(retried)).toBe(500);
        expect(retried.error.kind).toBe('dead_lettered');

        // Its money made unsettled behind the service's back: the redrive is refused, nothing changed.
        await sql(url, `UPDATE provider_payments SET charged = charged + 1`);
        expect(await redrive(third, 'lost-twice')).toMatchObject({
          status: 409,
          body: { error: { kind: 'money_unsettled' }, lifecycle: 'dead_lettered' },
        });
        await sql(url, `UPDATE provider_payments SET charged = refunded`);
        expect(await redrive(third, 'lost-twice')).toMatchObject({ status: 202, body: { lifecycle: 'running' } });
        const redriven = await untilDone(third, 'lost-twice');
        // A new run: charged again under its own key, once; the run before stays refunded.
        expect(redriven).toMatchObject({
          lifecycle: 'succeeded',
          runs: 2,
          payment: { charged: 2 * AMOUNT, refunded: AMOUNT },
        });
        expect(await toldOnce(third, 3)).toEqual(['order.dead_lettered', 'payment.refunded', 'order.succeeded']);
        // The courier, done before the first loss, carried over as recorded; the payment and the vendor ran again.
        const steps = await sql<{ step: string; run: string; instance: string }>(
          url,
          `SELECT step, run, instance FROM order_steps ORDER BY run, step`,
        );
        const [runBefore, runAfter] = [...new Set(steps.map((step) => step.run))];
        const of = (run: string | undefined, step: string) => steps.find((row) => row.run === run && row.step === step);
        expect(steps.filter((row) => row.run === runAfter).map((row) => row.step)).toEqual([
          'courier',
          'payment',
          'vendor',
        ]);
        expect(of(runAfter, 'courier')!.instance).toBe(of(runBefore, 'courier')!.instance);
        expect(of(runAfter, 'payment')!.instance).not.toBe(of(runBefore, 'payment')!.instance);
        expect(logLines(third).filter((line) => line.audit === 'order_redriven')).toHaveLength(1);
        // Only a parked order, or one failed by the infrastructure, is redriven.
        expect(await redrive(third, 'lost-twice')).toMatchObject({
          status: 409,
          body: { error: { kind: 'not_redrivable' }, lifecycle: 'succeeded' },
        });
      },
    );

    it(
      'resumes a run taken over by the instance where a copy of the order waits for it: the run ends, and the wait; the timeline shows the steps the lost instance had under way',
      { timeout: 60_000 },
      async () => {
        // The service's deadline outlasts the takeover: an order on it is still under way when its instance is lost.
        const [url, lost, survivor] = await twoInstances({ ORDER_TIMEOUT_MS: '20000' });
        const [lostId, survivorId] = await Promise.all(
          [lost, survivor].map(async (target) => (await health(target)).durable.instance_id),
        );
        const body = await acceptedVendorRunning(url, lost, 'joined-copy', 4000);
        const onService = orderBody({
          order_id: 'service-deadline',
          amount: AMOUNT,
          delay_ms: { payment: 0, vendor: 4000, courier: 0 },
        });
        expect(await accept(lost, onService)).toBe(202);
        // A copy sent to the other joins the run under way on the lost one, and waits there for its end.
        expect(await accept(survivor, body)).toBe(202);
        lost.child.kill('SIGKILL');
        const killedAt = Date.now();
        await lost.exited;
        // The only one left takes the run over, and runs it on beside the copy's wait.
        const ended = await untilDone(survivor, 'joined-copy');
        expect(ended).toMatchObject({ lifecycle: 'succeeded', payment: { charged: AMOUNT, refunded: 0 } });
        await eventually(
          async () => (await (await fetch(new URL('/healthz', survivor.url))).json()) as { orders_in_flight: number },
          (health) => health.orders_in_flight === 0,
          { within: 5000, every: 50 },
        );

        // Its vendor twice: lost with the instance it was under way on (its thread unknown), from the run's start to
        // the takeover, then run to its end by the one that took it over. Its payment and courier ended before.
        const attempts = await attemptsOf(survivor, 'joined-copy');
        const vendor = attempts.filter((attempt) => attempt.step === 'vendor');
        expect(vendor).toMatchObject([
          { outcome: 'lost', instance_id: lostId, thread_id: null, takeovers: 0 },
          { outcome: 'ok', instance_id: survivorId, takeovers: 1 },
        ]);
        expect(Date.parse(vendor[0]!.ended_at)).toBeGreaterThanOrEqual(killedAt);
        expect(Date.parse(vendor[1]!.started_at)).toBeGreaterThanOrEqual(Date.parse(vendor[0]!.ended_at));
        for (const step of ['payment', 'courier'])
          expect(attempts.filter((attempt) => attempt.step === step)).toMatchObject([
            { outcome: 'ok', instance_id: lostId, takeovers: 0 },
          ]);

        // An order on the service's deadline is never resumed, and none of its steps' ends recorded: voided, it says
        // its steps were under way on the lost instance.
        expect(await untilDone(survivor, 'service-deadline')).toMatchObject({ lifecycle: 'interrupted' });
        expect(
          (await attemptsOf(survivor, 'service-deadline')).map(({ step, outcome, instance_id, thread_id }) => ({
            step,
            outcome,
            instance_id,
            thread_id,
          })),
        ).toEqual(
          ['courier', 'payment', 'vendor'].map((step) => ({
            step,
            outcome: 'lost',
            instance_id: lostId,
            thread_id: null,
          })),
        );
      },
    );

    it(
      'keeps the money of a run resumed from an instance paused past its lease: woken, that one undoes nothing of it',
      { timeout: 60_000 },
      async () => {
        const [url, paused, survivor] = await twoInstances();
        // Its vendor outlasts the pause, the takeover and the wake: the woken instance still runs it, and stops it.
        await acceptedVendorRunning(url, paused, 'paused-holder', 8000);
        paused.child.kill('SIGSTOP');
        try {
          await eventually(
            () => orderStatus(survivor, 'paused-holder'),
            (status) => status?.lifecycle === 'resumed',
            { within: 4 * LEASE_MS, every: 20 },
          );
        } finally {
          paused.child.kill('SIGCONT');
        }
        // Woken, it finds its lease lapsed and stops what it ran, as interrupted: the run is the survivor's now.
        await eventually(
          async () => logLines(paused),
          (lines) => lines.some((line) => /instance gave up its identity/.test(line.msg ?? '')),
          { within: 4 * LEASE_MS, every: 50 },
        );
        const ended = await untilDone(survivor, 'paused-holder');
        // The run's payment, recorded before the pause, stands: charged once, and not refunded behind the survivor.
        expect(ended).toMatchObject({
          lifecycle: 'succeeded',
          outcome: { kind: 'ok' },
          payment: { charged: AMOUNT, refunded: 0 },
        });
      },
    );
  },
);
