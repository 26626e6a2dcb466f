/**
 * COURIERS across instances, piece by piece on a real Postgres: the real
 * Database, InstanceLease, Notifications, CourierAllotment and SlotSemaphore,
 * with no service around them, so that a race can be held open exactly where
 * it matters — here, a take of courier rows answered after the lease it was
 * sent under was given up.
 *
 * Races are held open with locks taken by the test's own connection: a
 * statement waiting on a lock is on its way for as long as the test wants.
 */
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CourierAllotment, coordinateCourierPool } from '../../src/postgres/courier-allotment.js';
import { Database } from '../../src/postgres/database.js';
import { InstanceLease } from '../../src/postgres/instance-lease.js';
import { Notifications } from '../../src/postgres/notifications.js';
import { MIGRATIONS } from '../../src/postgres/schema.js';
import { SlotSemaphore } from '../../src/shared-memory/slot-semaphore.js';
import { freshDatabase, POSTGRES_SKIPPED, POSTGRES_UNAVAILABLE, sql, startTestPostgres, type TestPostgres } from '../support/postgres.js';
import { eventually } from '../support/wait.js';

const COURIERS = 5;
const silent = pino({ level: 'silent' });

let server: TestPostgres | undefined;
const cleanups: Array<() => Promise<void>> = [];
beforeAll(async () => {
  if (POSTGRES_UNAVAILABLE === undefined) server = await startTestPostgres();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await server?.stop();
});

interface Instance {
  readonly lease: InstanceLease;
  readonly allotment: CourierAllotment;
  readonly semaphore: SlotSemaphore;
}

/** One instance's courier side: its own pool, lease and LISTEN connection, as DurableStore assembles them. */
async function instance(url: string, leaseMs: number): Promise<Instance> {
  // Statements may wait on the test's locks far longer than the lease: they must not time out meanwhile.
  const db = new Database({ url, poolSize: 4, statementTimeoutMs: 30_000, log: silent });
  await db.migrate(MIGRATIONS);
  await coordinateCourierPool(db, COURIERS, silent);
  const notifications = new Notifications(db, silent);
  await notifications.start();
  const semaphore = SlotSemaphore.create(COURIERS, 1, 16);
  let allotment: CourierAllotment | undefined;
  const lease = new InstanceLease(db, leaseMs, silent, () => allotment?.revokeAll());
  await lease.start();
  allotment = new CourierAllotment(db, semaphore, lease, notifications, silent);
  const started = allotment;
  cleanups.push(async () => {
    await started.stop();
    await lease.stop();
    await notifications.close();
    await db.close();
  });
  return { lease, allotment, semaphore };
}

/** Slots a step could take right now: taken and given back at once. */
function lendable(semaphore: SlotSemaphore): number {
  const taken: number[] = [];
  for (let slot = semaphore.tryAcquire(1); slot >= 0; slot = semaphore.tryAcquire(1)) taken.push(slot);
  for (const slot of taken) semaphore.release(slot, 1);
  return taken.length;
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`a courier take answered after the lease was given up${POSTGRES_SKIPPED}`, () => {
  it('lends nothing and gives its rows back, so that another instance can take them at once', async () => {
    const url = await freshDatabase(server!);
    const a = await instance(url, 3000);
    const given = a.lease.id()!;

    // Hold A's take on its way (the rows' table locked), and its renewals with it (its instance row locked).
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    cleanups.push(() => locker.end());
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE courier_slots IN ACCESS EXCLUSIVE MODE');
    await locker.query('SELECT 1 FROM instances WHERE instance_id = $1 FOR UPDATE', [given]);
    const taking = a.allotment.start();

    // A's lease runs out on its own clock: it gives its identity up (and revokes what it lends: nothing yet).
    await eventually(
      async () => a.lease.lost,
      (lost) => lost === 1,
      { within: 10_000, every: 20 },
    );
    // In Postgres the lease still holds — it always outlives the instance's own count by a margin — so the take, let go now, gets every row.
    await locker.query("UPDATE instances SET lease_until = now() + interval '10 seconds' WHERE instance_id = $1", [given]);
    await locker.query('COMMIT');
    await taking;

    expect(a.allotment.lent).toBe(0);
    expect(lendable(a.semaphore)).toBe(0);
    expect(await sql(url, 'SELECT slot FROM courier_slots WHERE holder = $1', [given])).toEqual([]);

    // Another instance takes them all at once; across both, never more than COURIERS to lend.
    const b = await instance(url, 3000);
    await b.allotment.start();
    expect(b.allotment.lent).toBe(COURIERS);
    expect(lendable(a.semaphore) + lendable(b.semaphore)).toBe(COURIERS);
  });
});
