/**
 * The lease on a real Postgres, against what makes a renewal late without anything wrong:
 * - a busy pool: every connection of the orders' pool held by long statements (a client's writes and deliveries at
 *   its rate limit do the same) must not make the lease's renewal wait, or the instance gives up every order it runs.
 *   The lease has a connection of its own.
 * - a held event loop: a process the machine did not run for a while finds, once it runs again, its lease's timer due
 *   and its renewal's answer read, both; the answer counts.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Database, type Statement } from '../../src/postgres/database.js';
import { InstanceLease } from '../../src/postgres/instance-lease.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  startTestPostgres,
  type TestPostgres,
} from '../support/postgres.js';
import { eventually } from '../support/wait.js';

const silent = pino({ level: 'silent' });
/** Renewed every 500 ms, given up 300 ms early: a renewal that waits a second for a connection loses it. */
const LEASE_MS = 1500;
const MARGIN_MS = 300;
/** How long the orders' pool is held: longer than the lease, so that only a renewal on another connection keeps it. */
const HELD_S = 2.5;

let server: TestPostgres | undefined;
let url: string;
beforeAll(async () => {
  if (POSTGRES_UNAVAILABLE !== undefined) return;
  server = await startTestPostgres();
  url = await freshDatabase(server);
});
afterAll(async () => {
  await server?.stop();
});

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`the instance lease${POSTGRES_SKIPPED}`, () => {
  it('is renewed while every connection of the orders’ pool is held by long statements', async () => {
    const db = new Database({ url, poolSize: 2, statementTimeoutMs: 10_000, log: silent });
    const lost: string[] = [];
    const lease = new InstanceLease(db, { leaseMs: LEASE_MS, marginMs: MARGIN_MS }, silent, (id) => lost.push(id));
    try {
      await lease.start();
      const id = lease.id();
      expect(id).toBeDefined();
      // Before: the renewals queued for one of these two connections; the lease ran out (and the checkout timed out).
      const holds = [1, 2].map(() => db.query(`SELECT pg_sleep(${HELD_S})`));
      await Promise.all(holds);
      expect(lost).toEqual([]);
      expect(lease.id()).toBe(id);
    } finally {
      await lease.stop();
      await db.close();
    }
  });

  it('is kept when its event loop was held past the lease while the renewal sent before had its answer on the way', async () => {
    // A renewal every second; the lease counted on for 2.4 s from the moment each renewal is sent.
    const leaseMs = 3000;
    const marginMs = 600;
    const heldMs = 1900;
    const renewals: number[] = [];
    const db = new (class extends Database {
      override leaseQuery<Row extends object>(statement: Statement, values?: readonly unknown[]): Promise<Row[]> {
        const answer = super.leaseQuery<Row>(statement, values);
        // Once the renewal is on its way (the check phase comes after its checkout and write), the process is held:
        // past the lease the one before counts on, short of the lease this one does. Postgres answers meanwhile.
        if (statement.name === 'instance_renew' && renewals.push(performance.now()) === 1)
          setImmediate(() => busy(heldMs));
        return answer;
      }
    })({ url, poolSize: 2, statementTimeoutMs: 10_000, log: silent });
    const lost: string[] = [];
    const lease = new InstanceLease(db, { leaseMs, marginMs }, silent, (id) => lost.push(id));
    try {
      await lease.start();
      const id = lease.id();
      await eventually(
        async () => renewals.length,
        (sent) => sent >= 2,
      );
      expect(lost).toEqual([]);
      expect(lease.id()).toBe(id);
    } finally {
      await lease.stop();
      await db.close();
    }
  });
});

/** Holds this thread, as a machine that does not run the process does, for `ms`. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}
