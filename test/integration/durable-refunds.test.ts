/**
 * Refunds in the durable mode when Postgres goes away under them: the
 * money goes back once it returns, without anyone retrying, and no one is
 * told a person must look at an order that recovery settles by itself.
 *
 * A real process (`npm start`'s) on a throwaway Postgres that the test stops
 * and starts again.
 */
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../../load/lib/server-process.js';
import { expectAtRest } from '../support/leaks.js';
import { orderBody } from '../support/orders.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  startRestartablePostgres,
  type RestartablePostgres,
} from '../support/postgres.js';
import { startTestService } from '../support/service.js';
import { eventually, pause } from '../support/wait.js';

let restartable: RestartablePostgres | undefined;
let started: ServerProcess | undefined;
afterEach(async () => {
  if (started && started.child.exitCode === null && started.child.signalCode === null) started.child.kill('SIGKILL');
  await started?.exited;
  started = undefined;
});
afterAll(async () => {
  await restartable?.stop();
});

/** The file's Postgres, started by the first test that needs it. */
async function postgres(): Promise<RestartablePostgres> {
  restartable ??= await startRestartablePostgres();
  return restartable;
}

async function sql<Row extends object>(databaseUrl: string, text: string, values: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<Row>(text, values)).rows;
  } finally {
    await client.end();
  }
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(
  `Postgres stopped while a failed order's refund runs${POSTGRES_SKIPPED}`,
  () => {
    it(
      'is answered interrupted, refunded by recovery once Postgres is back, and raises no "a person must look" line',
      { timeout: 60_000 },
      async () => {
        const url = await freshDatabase(await postgres());
        started = await startServerProcess({ THREADS: '2', LOG_LEVEL: 'info', DATABASE_URL: url, LEASE_MS: '3000' });
        const target = started;
        // Charged at once; the vendor fails at 600 ms, when Postgres is gone: the refund's void cannot reach the
        // provider.
        const orderId = 'refund-during-outage';
        const answer = fetch(new URL('/order', target.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            order_id: orderId,
            amount: 10,
            fail_step: 'vendor',
            delay_ms: { payment: 0, vendor: 600, courier: 0, refund: 50 },
          }),
        });
        await eventually(
          () =>
            sql<{ charged: string }>(url, "SELECT charged FROM provider_payments WHERE order_id = 'anonymous:' || $1", [
              orderId,
            ]),
          (rows) => rows[0]?.charged === '10',
          { within: 3000 },
        );
        await restartable!.halt();
        const response = await answer;
        const body = (await response.json()) as { error?: { kind: string } };
        // What the provider did is in doubt: not recorded as the order's own failure, but left for recovery.
        expect({ status: response.status, kind: body.error?.kind }).toEqual({ status: 503, kind: 'interrupted' });
        await pause(500);
        await restartable!.resume();
        const [settled] = await eventually(
          () =>
            sql<{ state: string; kind: string | null; charged: string; refunded: string }>(
              url,
              "SELECT o.state, o.kind, p.charged, p.refunded FROM orders o JOIN provider_payments p USING (order_id) WHERE order_id = 'anonymous:' || $1",
              [orderId],
            ),
          (rows) => rows[0]?.state === 'done',
          { within: 20_000, every: 200 },
        );
        expect(settled).toEqual({ state: 'done', kind: 'interrupted', charged: '10', refunded: '10' });
        const alarms = target.stdout.filter((line) => line.includes('a person must look') && line.includes(orderId));
        expect(alarms).toEqual([]);
      },
    );
  },
);

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(
  `a refund whose void never reached the provider, in Postgres${POSTGRES_SKIPPED}`,
  () => {
    it(
      'is voided by the main thread: the order is recorded with its own failure, never compensation_failed, its money back',
      { timeout: 60_000 },
      async () => {
        const url = await freshDatabase(await postgres());
        // As in memory (compensation.test.ts): the refund waits in the pool's queue behind a neighbour's steps on the
        // one thread that runs one step at a time, and its deadline passes before its void leaves.
        const service = await startTestService({
          config: {
            threads: 1,
            threadMaxTasks: 1,
            poolQueueLimit: 10,
            refundTimeoutMs: 100,
            durable: { databaseUrl: url, leaseMs: 3000, poolSize: 4 },
          },
        });
        try {
          const innocent = service.order(
            orderBody({
              order_id: 'durable-refund-never-left',
              amount: 10,
              fail_step: 'vendor',
              delay_ms: { payment: 0, vendor: 50, courier: 0, refund: 0 },
            }),
          );
          await pause(20);
          const neighbour = service.order(orderBody({ delay_ms: { payment: 0, vendor: 1000, courier: 0 } }));
          const { status, body } = await innocent;
          expect({ status, kind: body.error?.kind }).toEqual({ status: 503, kind: 'vendor_unavailable' });
          const [row] = await sql<{ kind: string; charged: string; refunded: string }>(
            url,
            "SELECT o.kind, p.charged, p.refunded FROM orders o JOIN provider_payments p USING (order_id) WHERE order_id = 'anonymous:' || $1",
            ['durable-refund-never-left'],
          );
          expect(row).toEqual({ kind: 'vendor_unavailable', charged: '10', refunded: '10' });
          expect((await neighbour).status).toBe(200);
          await expectAtRest(service, 1);
        } finally {
          await service.shutdown();
        }
      },
    );
  },
);
