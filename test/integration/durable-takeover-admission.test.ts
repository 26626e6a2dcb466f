/**
 * Runs taken over go through admission, with real processes on a real
 * Postgres. An instance SIGKILLed with 100 accepted orders in flight leaves
 * them to a survivor that may run 3 at once (MAX_INFLIGHT=3): it claims them
 * only as it has room, so it never has more than 3 in flight, and every one of
 * them ends succeeded — none `internal` for want of a cancel cell or a
 * courier waiter's entry, none lost: the runs it has no room for wait in
 * Postgres, claimable, until it has. And the admin's redrive on a full
 * instance is refused 503 `overloaded` with Retry-After — the order stays as
 * it was, to be redriven once there is room.
 */
import { describe, expect, it } from 'vitest';
import type { ServerProcess } from '../../load/lib/server-process.js';
import { acceptAnswer, acceptedVendorRunning } from '../support/accepted-orders.js';
import { orderBody } from '../support/orders.js';
import { freshDatabase, POSTGRES_SKIPPED, POSTGRES_UNAVAILABLE, sql } from '../support/postgres.js';
import { isRunning, usePostgresInstances } from '../support/server-instances.js';
import { eventually, pause } from '../support/wait.js';

const postgres = usePostgresInstances();

const LEASE_MS = 2000;
const ORDERS = 100;
const AMOUNT = 700;
/** The survivor's MAX_INFLIGHT: what it runs at once, taken-over runs included. */
const SURVIVOR_MAX_INFLIGHT = 3;
/** Long enough for 100 orders of about a second each, 3 at a time, on a busy machine: none is on its deadline. */
const DEADLINE_MS = 150_000;
const STEP_MS = 800;

interface OrderRow {
  readonly order_id: string;
  readonly state: string;
  readonly kind: string | null;
  readonly recoveries: number;
}

interface Health {
  readonly orders_in_flight: number;
  readonly durable: { readonly instance_id: string };
}

const health = async (target: ServerProcess): Promise<Health> =>
  (await (await fetch(new URL('/healthz', target.url))).json()) as Health;

/** `target`'s orders in flight, read every 20 ms until `stop()`: the most it had at once. */
function sampleInFlight(target: ServerProcess): { stop(): Promise<{ max: number; samples: number }> } {
  let sampling = true;
  let max = 0;
  let samples = 0;
  const loop = (async () => {
    while (sampling && isRunning(target)) {
      const read = await health(target).catch(() => undefined);
      if (read) {
        samples++;
        max = Math.max(max, read.orders_in_flight);
      }
      await pause(20);
    }
  })();
  return {
    async stop() {
      sampling = false;
      await loop;
      return { max, samples };
    },
  };
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`runs taken over go through admission${POSTGRES_SKIPPED}`, () => {
  it(
    'a survivor with MAX_INFLIGHT=3 resumes 100 orders of a SIGKILLed instance 3 at a time: never more in flight, none internal, all succeeded, each charged once',
    { timeout: 240_000 },
    async () => {
      const url = await freshDatabase(postgres.server());
      const common = { LEASE_MS: String(LEASE_MS), COURIERS: String(ORDERS) };
      const lost = await postgres.instance(url, common);
      const survivor = await postgres.instance(url, { ...common, MAX_INFLIGHT: String(SURVIVOR_MAX_INFLIGHT) });
      const lostId = (await health(lost)).durable.instance_id;

      const bodies = Array.from({ length: ORDERS }, (_, i) =>
        orderBody({
          order_id: `takeover-${i}`,
          amount: AMOUNT,
          deadline_ms: DEADLINE_MS,
          delay_ms: { payment: STEP_MS, vendor: STEP_MS, courier: STEP_MS },
        }),
      );
      const answers = await Promise.all(bodies.map((body) => acceptAnswer(lost, body)));
      expect(answers.filter((answer) => answer !== 202)).toEqual([]);
      const sampler = sampleInFlight(survivor);
      // Killed with its orders under way: each of them is the survivor's to take over.
      const [running] = await sql<{ n: number }>(
        url,
        `SELECT count(*)::int AS n FROM orders WHERE state = 'running' AND owner = $1`,
        [lostId],
      );
      lost.child.kill('SIGKILL');
      await lost.exited;
      expect(running!.n, 'orders running on the instance as it is killed').toBeGreaterThan(SURVIVOR_MAX_INFLIGHT * 10);

      const rows = await eventually(
        () => sql<OrderRow>(url, 'SELECT order_id, state, kind, recoveries FROM orders ORDER BY order_id'),
        (found) => found.length === ORDERS && found.every((row) => row.state === 'done'),
        { within: 200_000, every: 250 },
      );
      const { max, samples } = await sampler.stop();
      const kinds = new Map<string, number>();
      for (const row of rows) kinds.set(row.kind ?? 'none', (kinds.get(row.kind ?? 'none') ?? 0) + 1);
      const resumed = rows.filter((row) => row.recoveries > 0).length;
      console.log(
        `durable-takeover-admission: ${resumed} of ${ORDERS} taken over, outcomes ${JSON.stringify(Object.fromEntries(kinds))}; ` +
          `the survivor's orders in flight at most ${max} (MAX_INFLIGHT ${SURVIVOR_MAX_INFLIGHT}, ${samples} samples)`,
      );
      expect(
        rows.filter((row) => row.kind === 'internal'),
        'orders ended internal',
      ).toEqual([]);
      expect(max, "the survivor's orders in flight, at most").toBeLessThanOrEqual(SURVIVOR_MAX_INFLIGHT);
      expect(rows.filter((row) => row.kind !== 'ok')).toEqual([]);

      // Charged once each, under the one run the order ever had, and not refunded.
      const books = await sql<{ order_id: string; runs: number; charged: string; refunded: string }>(
        url,
        `SELECT order_id, count(*)::int AS runs, sum(charged) AS charged, sum(refunded) AS refunded
           FROM provider_payments GROUP BY order_id`,
      );
      expect(books).toHaveLength(ORDERS);
      for (const book of books) expect(book).toMatchObject({ runs: 1, charged: String(AMOUNT), refunded: '0' });
      expect((await health(survivor)).orders_in_flight).toBe(0);
    },
  );

  it(
    "refuses the admin's redrive 503 overloaded with Retry-After while the instance is full: the order stays dead_lettered, and is redriven once there is room",
    { timeout: 60_000 },
    async () => {
      const url = await freshDatabase(postgres.server());
      const env = { LEASE_MS: String(LEASE_MS), ORDER_RECOVERIES_MAX: '0', MAX_INFLIGHT: '1' };
      const lost = await postgres.instance(url, env);
      const survivor = await postgres.instance(url, env);
      // Lost once with its instance, and parked at once (no takeover is allowed to resume it).
      await acceptedVendorRunning(url, lost, { orderId: 'parked', amount: AMOUNT, vendorMs: 5000 });
      lost.child.kill('SIGKILL');
      await eventually(
        () => sql<OrderRow>(url, `SELECT order_id, state, kind, recoveries FROM orders`),
        ([row]) => row?.kind === 'dead_lettered',
        { within: 4 * LEASE_MS, every: 50 },
      );

      // Its one order in flight fills the survivor.
      const filler = orderBody({ order_id: 'filler', delay_ms: { payment: 3000, vendor: 3000, courier: 3000 } });
      expect(await acceptAnswer(survivor, { ...filler, deadline_ms: 30_000 })).toBe(202);
      await eventually(
        () => health(survivor),
        (read) => read.orders_in_flight === 1,
      );
      const refused = await fetch(new URL('/admin/orders/parked/redrive', survivor.url), { method: 'POST' });
      const refusedBody = (await refused.json()) as { error: { kind: string } };
      expect({ status: refused.status, body: refusedBody }).toMatchObject({
        status: 503,
        body: { error: { kind: 'overloaded' } },
      });
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
      expect((await health(survivor)).orders_in_flight).toBe(1);
      const [still] = await sql<OrderRow>(
        url,
        `SELECT order_id, state, kind, recoveries FROM orders WHERE order_id = 'anonymous:parked'`,
      );
      expect(still).toMatchObject({ state: 'done', kind: 'dead_lettered' });

      // Room again: the same redrive goes through, and the order succeeds.
      await eventually(
        () => health(survivor),
        (read) => read.orders_in_flight === 0,
        { within: 15_000, every: 50 },
      );
      const redriven = await fetch(new URL('/admin/orders/parked/redrive', survivor.url), { method: 'POST' });
      expect(redriven.status).toBe(202);
      const ended = await eventually(
        () =>
          sql<OrderRow>(
            url,
            `SELECT order_id, state, kind, recoveries FROM orders WHERE order_id = 'anonymous:parked'`,
          ),
        ([row]) => row?.state === 'done',
        { within: 15_000, every: 50 },
      );
      expect(ended[0]).toMatchObject({ kind: 'ok' });
    },
  );
});
