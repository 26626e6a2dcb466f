/**
 * A graceful stop on Postgres, with real processes: SIGTERM, as a rolling
 * restart sends it. An instance that is draining takes over nothing: a run
 * lost during its drain is left for a live instance.
 */
import { describe, expect, it } from 'vitest';
import type { ServerProcess } from '../../load/lib/server-process.js';
import { acceptAnswer, vendorStillRunning } from '../support/accepted-orders.js';
import { orderBody } from '../support/orders.js';
import { freshDatabase, POSTGRES_SKIPPED, POSTGRES_UNAVAILABLE, sql } from '../support/postgres.js';
import { jsonLines, usePostgresInstances } from '../support/server-instances.js';
import { eventually, pause } from '../support/wait.js';

const postgres = usePostgresInstances();

const LEASE_MS = 2000;
const AMOUNT = 900;

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

async function orderStatus(target: ServerProcess, orderId: string): Promise<OrderStatus | undefined> {
  const response = await fetch(new URL(`/orders/${orderId}`, target.url));
  return response.status === 200 ? ((await response.json()) as OrderStatus) : undefined;
}

const rowsOf = (url: string): Promise<OrderRow[]> =>
  sql<OrderRow>(url, 'SELECT order_id, state, kind, owner::text, recoveries FROM orders ORDER BY order_id');

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`a graceful stop on Postgres${POSTGRES_SKIPPED}`, () => {
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
      const body = orderBody({
        order_id: 'lost-in-drain',
        amount: AMOUNT,
        deadline_ms: 30_000,
        delay_ms: { payment: 0, vendor: 8000, courier: 0 },
      });
      expect(await acceptAnswer(lost, body)).toBe(202);
      await vendorStillRunning(url);
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
