/**
 * A graceful stop on Postgres, with real processes: SIGTERM, as a rolling
 * restart sends it. Of 200 orders accepted on two instances (respond-async,
 * steps of 1.5–5 s, their own deadline), one instance is stopped halfway
 * with many of its orders still running, past what its drain could wait for:
 * it hands them over — its steps stopped, its runs given up in Postgres —
 * and the other resumes them at once, as it would after a SIGKILL. They end
 * succeeded, each charged once; the stopped instance exits 0 within its
 * drain. And an instance that is draining takes over nothing: a run lost
 * during its drain is left for a live instance.
 */
import { describe, expect, it } from 'vitest';
import type { ServerProcess } from '../../load/lib/server-process.js';
import { acceptAnswer, acceptedVendorRunning } from '../support/accepted-orders.js';
import { orderBody } from '../support/orders.js';
import { mulberry32 } from '../support/random.js';
import { freshDatabase, POSTGRES_SKIPPED, POSTGRES_UNAVAILABLE, sql } from '../support/postgres.js';
import { isRunning, jsonLines, usePostgresInstances } from '../support/server-instances.js';
import { eventually, pause } from '../support/wait.js';
import { readFollowingRetryAfter } from '../support/http.js';

const postgres = usePostgresInstances();

const LEASE_MS = 2000;
const ORDERS = 200;
const AMOUNT = 900;
const DEADLINE_MS = 60_000;
/** The stopped instance's drain: its orders' steps outlast it. */
const SHUTDOWN_TIMEOUT_MS = 3000;
/**
 * The hand-over's lease: long, so that a recovery pass on its own schedule (every half lease) would come seconds after
 * the runs were handed over, where the hand-over's notification brings one at once.
 */
const HANDOVER_LEASE_MS = 10_000;

interface OrderStatus {
  readonly state: string;
  readonly lifecycle: string;
  readonly outcome: { readonly kind: string } | null;
  readonly payment: { readonly charged: number; readonly refunded: number };
}

interface OrderRow {
  readonly order_id: string;
  readonly state: string;
  readonly kind: string | null;
  readonly owner: string | null;
  readonly recoveries: number;
}

const health = async (target: ServerProcess): Promise<{ durable: { instance_id: string } }> =>
  (await (await fetch(new URL('/healthz', target.url))).json()) as never;

/** POST /order, its client connected until the answer (no Prefer). */
const postOrder = (target: ServerProcess, body: Record<string, unknown>): Promise<Response> =>
  fetch(new URL('/order', target.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

async function orderStatus(target: ServerProcess, orderId: string): Promise<OrderStatus | undefined> {
  const response = await readFollowingRetryAfter(new URL(`/orders/${orderId}`, target.url));
  return response.status === 200 ? ((await response.json()) as OrderStatus) : undefined;
}

const rowsOf = (url: string): Promise<OrderRow[]> =>
  sql<OrderRow>(url, 'SELECT order_id, state, kind, owner::text, recoveries FROM orders ORDER BY order_id');

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`a graceful stop on Postgres${POSTGRES_SKIPPED}`, () => {
  it(
    'hands over the orders it cannot finish within its drain: of 200 on two instances, one SIGTERMed halfway, at least 99% succeed, each charged once, and it exits 0 within its drain',
    { timeout: 120_000 },
    async () => {
      const seed = Number(process.env['SEED'] ?? Math.floor(Math.random() * 2 ** 31));
      console.log(`durable-handover seed ${seed} (SEED=${seed} draws the same delays)`);
      const random = mulberry32(seed);
      const delay = (): number => 1500 + Math.floor(random() * 3501);
      const url = await freshDatabase(postgres.server());
      const env = {
        LEASE_MS: String(HANDOVER_LEASE_MS),
        COURIERS: String(ORDERS),
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        // No takeover of a lost instance's run may resume it: a run handed over is no loss, and is resumed all the same.
        ORDER_RECOVERIES_MAX: '0',
      };
      const [stopped, survivor] = await Promise.all([postgres.instance(url, env), postgres.instance(url, env)]);
      const stoppedId = (await health(stopped)).durable.instance_id;
      // One whose client waits on the instance that stops, connected: told shutting_down (ask again), it asks the other.
      const connected = orderBody({
        order_id: 'connected',
        amount: AMOUNT,
        deadline_ms: DEADLINE_MS,
        delay_ms: { payment: 0, vendor: 6000, courier: 6000 },
      });
      const waited = postOrder(stopped, connected);

      const bodies = Array.from({ length: ORDERS }, (_, i) =>
        orderBody({
          order_id: `handover-${i}`,
          amount: AMOUNT,
          deadline_ms: DEADLINE_MS,
          delay_ms: { payment: delay(), vendor: delay(), courier: delay() },
        }),
      );
      let signaledAt = 0;
      // Ten at a time every 100 ms, half to each instance, until one is stopped halfway; the rest go to the other.
      const target = (n: number): ServerProcess => (n % 2 === 1 && signaledAt === 0 ? stopped : survivor);
      let runningAtSignal = 0;
      const answers: Array<202 | string> = [];
      for (let i = 0; i < ORDERS; i += 10) {
        if (i === ORDERS / 2) {
          const [running] = await sql<{ n: number }>(
            url,
            `SELECT count(*)::int AS n FROM orders WHERE state = 'running' AND owner = $1`,
            [stoppedId],
          );
          runningAtSignal = running!.n;
          stopped.child.kill('SIGTERM');
          signaledAt = performance.now();
        }
        answers.push(
          ...(await Promise.all(bodies.slice(i, i + 10).map((body, j) => acceptAnswer(target(i + j), body)))),
        );
        await pause(100);
      }
      expect(answers.filter((answer) => answer !== 202)).toEqual([]);
      expect(runningAtSignal, 'orders running on the instance as it is stopped').toBeGreaterThan(10);

      const told = await waited;
      expect({ status: told.status, kind: ((await told.json()) as { error?: { kind: string } }).error?.kind }).toEqual({
        status: 503,
        kind: 'shutting_down',
      });
      expect(told.headers.get('retry-after')).toBe('1');
      const exit = await stopped.exited;
      const exitAfterMs = exit.at - signaledAt;
      const askedAgain = await postOrder(survivor, connected);
      expect({ status: askedAgain.status, body: await askedAgain.json() }).toMatchObject({
        status: 200,
        body: { status: 'ok', order_id: 'connected' },
      });
      const rows = await eventually(
        () => rowsOf(url),
        (found) => found.length === ORDERS + 1 && found.every((row) => row.state === 'done'),
        { within: DEADLINE_MS, every: 200 },
      );
      const succeeded = rows.filter((row) => row.kind === 'ok');
      const handedOver = rows.filter((row) => row.recoveries > 0);
      // Claimed at once: each claim ends its run's steps lost on the stopped instance (order_step_tries) at its instant.
      const logged = jsonLines<{ msg?: string; time: number; handing_over?: number; handed_over?: number }>(stopped);
      const handingOver = logged.find((line) => /^shutdown deadline near: handing over/.test(line.msg ?? ''));
      // Fewer than were stopped to be handed over when a run's steps had all ended as the stop reached it (one of 50
      // beside busy cores): that run finished on the stopped instance.
      const handedOverLogged = logged.find(
        (line) => line.msg === 'orders handed over to another instance',
      )?.handed_over;
      const [claims] = await sql<{ last: number }>(
        url,
        `SELECT (extract(epoch FROM max(ended_at)) * 1000)::float8 AS last FROM order_step_tries WHERE outcome = 'lost'`,
      );
      const claimedWithinMs = Math.round(claims!.last - (handingOver?.time ?? Number.NaN));
      console.log(
        `durable-handover: ${runningAtSignal} running on the stopped instance at SIGTERM, ${handingOver?.handing_over} stopped to be handed over, ` +
          `${handedOverLogged} handed over, ` +
          `${handedOver.length} taken over, the last ${claimedWithinMs} ms after the hand-over (lease ${HANDOVER_LEASE_MS} ms); ` +
          `${succeeded.length} of ${ORDERS + 1} succeeded; exit ${exit.code ?? exit.signal} ${Math.round(exitAfterMs)} ms after SIGTERM`,
      );
      const failed = rows.filter((row) => row.kind !== 'ok');
      expect(succeeded.length, JSON.stringify(failed)).toBeGreaterThanOrEqual(Math.ceil((ORDERS + 1) * 0.99));
      expect(handedOverLogged, 'runs handed over').toBeGreaterThan(0);
      expect(handedOverLogged).toBeLessThanOrEqual(handingOver!.handing_over!);
      expect(handedOver.length).toBe(handedOverLogged);
      // Not at the next pass of the survivor's own schedule, every half lease: at the hand-over's notification.
      expect(claimedWithinMs).toBeLessThan(HANDOVER_LEASE_MS / 4);
      expect(exit.code, 'exit code of the instance stopped by SIGTERM').toBe(0);
      // Within its drain: SHUTDOWN_TIMEOUT_MS, and its teardown (threads terminated, isolates torn down).
      expect(exitAfterMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 1500);

      // Charged once, as GET /orders/{id} says: one run at the provider, its amount, nothing refunded.
      for (const row of succeeded) {
        const id = row.order_id.slice('anonymous:'.length);
        expect(await orderStatus(survivor, id), id).toMatchObject({
          lifecycle: 'succeeded',
          payment: { charged: AMOUNT, refunded: 0 },
        });
      }
      const books = await sql<{ order_id: string; runs: number }>(
        url,
        `SELECT order_id, count(*)::int AS runs FROM provider_payments GROUP BY order_id HAVING count(*) > 1`,
      );
      expect(books).toEqual([]);
      expect(isRunning(survivor)).toBe(true);
    },
  );

  it(
    'takes over nothing while it drains: a run lost during the drain is left to a live instance, which resumes it',
    { timeout: 60_000 },
    async () => {
      const url = await freshDatabase(postgres.server());
      const env = { LEASE_MS: String(LEASE_MS) };
      const lost = await postgres.instance(url, env);
      // Its drain lasts: serving on for 6 s after the signal, then its drain proper.
      const draining = await postgres.instance(url, { ...env, DRAIN_DELAY_MS: '6000' });
      const lostId = (await health(lost)).durable.instance_id;
      await acceptedVendorRunning(url, lost, { orderId: 'lost-in-drain', amount: AMOUNT, vendorMs: 8000 });
      draining.child.kill('SIGTERM');
      // The drain has begun: readiness says so.
      await eventually(
        async () => (await fetch(new URL('/readyz', draining.url))).status,
        (status) => status === 503,
      );
      lost.child.kill('SIGKILL');
      await lost.exited;
      // Past the lost instance's lease and several of the draining one's recovery passes (every half lease).
      await pause(2 * LEASE_MS + 1000);
      const [during] = await rowsOf(url);
      expect(during, 'the lost run, while the only other instance drains').toMatchObject({
        state: 'running',
        owner: lostId,
        recoveries: 0,
      });
      const exit = await draining.exited;
      expect(exit.code).toBe(0);
      expect(jsonLines<{ msg?: string }>(draining).filter((line) => /took over an order/.test(line.msg ?? ''))).toEqual(
        [],
      );

      // A live instance takes it over and resumes it.
      const live = await postgres.instance(url, env);
      const ended = await eventually(
        () => orderStatus(live, 'lost-in-drain'),
        (status) => status?.state === 'done',
        { within: 20_000, every: 100 },
      );
      expect(ended).toMatchObject({ lifecycle: 'succeeded', payment: { charged: AMOUNT, refunded: 0 } });
    },
  );
});
