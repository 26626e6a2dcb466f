/**
 * COURIERS across instances, piece by piece on a real Postgres: the real
 * Database, InstanceLease, Notifications, CourierAllotment and SlotSemaphore,
 * with no service around them, so that a race can be held open exactly where
 * it matters — here, a take of courier rows answered after the lease it was
 * sent under was given up.
 *
 * Races are held open with locks taken by the test's own connection: a
 * statement waiting on a lock is on its way for as long as the test wants.
 * Where only one kind of statement must wait (a give-back, not a take), a
 * statement trigger makes just that kind wait for the test's advisory lock,
 * before it touches a row; and a spy in front of courier_take records every
 * take, so the test knows when one has been answered.
 */
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CourierAllotment, coordinateCourierPool } from '../../src/postgres/courier-allotment.js';
import { Database } from '../../src/postgres/database.js';
import { InstanceLease } from '../../src/postgres/instance-lease.js';
import { Notifications } from '../../src/postgres/notifications.js';
import { loadMigrations } from '../../src/postgres/schema.js';
import { NO_TOKEN, SlotSemaphore } from '../../src/shared-memory/slot-semaphore.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  sql,
  startOwnTestPostgres,
  type TestPostgres,
} from '../support/postgres.js';
import { eventually, pause } from '../support/wait.js';

const COURIERS = 5;
/** The owner the test's "steps" take slots as (the main thread stands in for a worker). */
const STEP = 1;
/** The advisory lock give-backs wait for while the test holds it. */
const GIVE_BACKS_HELD = 4242;
const silent = pino({ level: 'silent' });

let server: TestPostgres | undefined;
const cleanups: Array<() => Promise<void>> = [];
beforeAll(async () => {
  if (POSTGRES_UNAVAILABLE === undefined) server = await startOwnTestPostgres();
});
/** Run before the cleanups: whatever a test still holds in Postgres would make the instances' last statements wait. */
const releases: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const release of releases.splice(0)) await release();
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
async function instance(url: string, leaseMs: number, statementTimeoutMs = 30_000): Promise<Instance> {
  // Statements may wait on the test's locks far longer than the lease: unless a test says so, they must not time out
  // meanwhile.
  const db = new Database({ url, poolSize: 4, statementTimeoutMs, log: silent });
  await db.migrate(await loadMigrations());
  await coordinateCourierPool(db, COURIERS, silent);
  const notifications = new Notifications(db, silent);
  await notifications.start();
  const semaphore = SlotSemaphore.create(COURIERS, 1, 16);
  let allotment: CourierAllotment | undefined;
  // No threads here to revoke slots from: the margin is the lease's own fifth.
  const lease = new InstanceLease(db, { leaseMs, marginMs: leaseMs / 5 }, silent, (id) => allotment?.revokeAll(id));
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

/**
 * The schema, then the test's hooks in Postgres: every courier_take recorded
 * (who, what it knew, what it got), and give-backs (`SET holder = NULL`)
 * waiting for GIVE_BACKS_HELD before they touch a row. Installed before any
 * instance prepares its statements.
 */
async function withCourierHooks(url: string): Promise<void> {
  const db = new Database({ url, poolSize: 2, statementTimeoutMs: 30_000, log: silent });
  await db.migrate(await loadMigrations());
  await db.close();
  await sql(
    url,
    `CREATE TABLE courier_takes (me uuid, known integer[], taken integer[], at timestamptz DEFAULT clock_timestamp());
     ALTER FUNCTION courier_take(uuid, integer, integer[]) RENAME TO courier_take_spied;
     CREATE FUNCTION courier_take(p_me uuid, p_n integer, p_known integer[]) RETURNS SETOF integer LANGUAGE plpgsql AS $$
     DECLARE taken integer[];
     BEGIN
       taken := ARRAY(SELECT courier_take_spied(p_me, p_n, p_known));
       INSERT INTO courier_takes (me, known, taken) VALUES (p_me, p_known, taken);
       RETURN QUERY SELECT unnest(taken);
     END $$;
     CREATE FUNCTION hold_give_backs() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF current_query() LIKE '%SET holder = NULL%' THEN PERFORM pg_advisory_xact_lock_shared(${GIVE_BACKS_HELD}); END IF;
       RETURN NULL;
     END $$;
     CREATE TRIGGER hold_give_backs BEFORE UPDATE ON courier_slots FOR EACH STATEMENT EXECUTE FUNCTION hold_give_backs();`,
  );
}

/** Give-backs wait from now until the returned function is called. */
async function holdGiveBacks(url: string): Promise<() => Promise<void>> {
  const locker = new pg.Client({ connectionString: url });
  await locker.connect();
  await locker.query('SELECT pg_advisory_lock($1)', [GIVE_BACKS_HELD]);
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    await locker.end();
  };
  releases.push(release);
  return release;
}

/** Takes by an identity recorded so far. */
async function takesBy(url: string, identity: string): Promise<number> {
  const [row] = await sql<{ n: number }>(url, 'SELECT count(*)::int AS n FROM courier_takes WHERE me = $1', [identity]);
  return row!.n;
}

/** Rows Postgres has under an identity. */
async function rowsOf(url: string, identity: string): Promise<number> {
  const [row] = await sql<{ n: number }>(url, 'SELECT count(*)::int AS n FROM courier_slots WHERE holder = $1', [
    identity,
  ]);
  return row!.n;
}

/**
 * `identity`'s renewals held (its row locked in a transaction left open) until its instance gives it up on its own
 * clock; the returned client's COMMIT lets them go.
 */
async function holdRenewalsUntilGivenUp(url: string, holder: Instance, identity: string): Promise<pg.Client> {
  const locker = new pg.Client({ connectionString: url });
  await locker.connect();
  releases.push(async () => void (await locker.end().catch(() => {})));
  await locker.query('BEGIN');
  const lostBefore = holder.lease.lost;
  await locker.query('SELECT 1 FROM instances WHERE instance_id = $1 FOR UPDATE', [identity]);
  await eventually(
    async () => holder.lease.lost,
    (lost) => lost === lostBefore + 1,
    { within: 10_000, every: 20 },
  );
  return locker;
}

/** Another live instance — only its row in `instances` — holds every courier row after the first `leftFree`. */
async function rowsHeldElsewhere(url: string, instanceId: string, leftFree: number): Promise<void> {
  const db = new Database({ url, poolSize: 2, statementTimeoutMs: 30_000, log: silent });
  await coordinateCourierPool(db, COURIERS, silent);
  await db.close();
  await sql(
    url,
    "INSERT INTO instances (instance_id, host, pid, lease_until) VALUES ($1, 'elsewhere', 1, now() + interval '1 hour')",
    [instanceId],
  );
  await sql(url, 'UPDATE courier_slots SET holder = $1, held_since = now() WHERE slot > $2', [instanceId, leftFree]);
}

interface WaitingStep {
  /** The slot it got; -1 if withdrawn first. */
  readonly slot: Promise<number>;
  withdraw(): void;
}

/** A step waiting for a courier; withdrawn when the test ends, if not before. */
function waitingStep(semaphore: SlotSemaphore): WaitingStep {
  const withdrawn = Promise.withResolvers<void>();
  let over = false;
  const withdraw = (): void => {
    over = true;
    withdrawn.resolve();
    semaphore.wakeIfSlotFree();
  };
  cleanups.push(async () => withdraw());
  return {
    slot: semaphore.acquire(STEP, { token: NO_TOKEN, isCanceled: () => over, whenCanceled: () => withdrawn.promise }),
    withdraw,
  };
}

/** Slots a step could take right now: taken and given back at once. */
function lendable(semaphore: SlotSemaphore): number {
  const taken: number[] = [];
  for (let slot = semaphore.tryAcquire(1); slot >= 0; slot = semaphore.tryAcquire(1)) taken.push(slot);
  for (const slot of taken) semaphore.release(slot, 1);
  return taken.length;
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(
  `a courier take answered after the lease was given up${POSTGRES_SKIPPED}`,
  () => {
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
      // In Postgres the lease still holds — it always outlives the instance's own count by a margin — so the take, let
      // go now, gets every row.
      await locker.query("UPDATE instances SET lease_until = now() + interval '10 seconds' WHERE instance_id = $1", [
        given,
      ]);
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
  },
);

/**
 * C holds every row and its steps every slot; B starts and wants one. C,
 * above its fair share, gives one back: its slot comes back from a step, its
 * row's release is sent — and held in Postgres. Then C's steps want a
 * courier again. Returns once the release is held and C wants.
 */
async function giveBackHeldWhileWanting(url: string, cStatementTimeoutMs?: number) {
  await withCourierHooks(url);
  const c = await instance(url, 10_000, cStatementTimeoutMs);
  await c.allotment.start();
  const cId = c.lease.id()!;
  expect(c.allotment.held).toBe(COURIERS);
  const busy = Array.from({ length: COURIERS }, () => c.semaphore.tryAcquire(STEP));
  waitingStep(c.semaphore);

  const releaseGiveBacks = await holdGiveBacks(url);
  const b = await instance(url, 10_000);
  await b.allotment.start();
  const bId = b.lease.id()!;
  waitingStep(b.semaphore);
  await eventually(
    async () => c.semaphore.waiting(),
    (waiting) => waiting === 2,
    { within: 5000, every: 10 },
  );
  // Two steps of C end: the first slot goes to C's waiting step, the second to the give-back, which then releases its
  // row.
  c.semaphore.release(busy[0]!, STEP);
  c.semaphore.release(busy[1]!, STEP);
  await eventually(
    async () => c.allotment.held,
    (held) => held === COURIERS - 1,
    { within: 5000, every: 10 },
  );
  waitingStep(c.semaphore);
  return { c, cId, b, bId, releaseGiveBacks };
}

/**
 * Once every row is held again and both instances know what they took:
 * what each believes it holds is what Postgres has under its identity, and
 * together they lend no more than COURIERS.
 */
async function expectLentOnceEach(url: string, c: Instance, cId: string, b: Instance, bId: string): Promise<void> {
  await eventually(
    () => sql<{ n: number }>(url, 'SELECT count(*)::int AS n FROM courier_slots WHERE holder IS NULL'),
    ([row]) => row!.n === 0,
    { within: 5000, every: 20 },
  );
  await eventually(
    async () => c.allotment.held + b.allotment.held,
    (held) => held >= COURIERS,
    { within: 5000, every: 20 },
  );
  expect({ c: await rowsOf(url, cId), b: await rowsOf(url, bId) }).toEqual({
    c: c.allotment.held,
    b: b.allotment.held,
  });
  expect(c.allotment.lent + b.allotment.lent).toBeLessThanOrEqual(COURIERS);
}

/** Until no release of a courier row is under way in Postgres (one whose client gave up on it included). */
async function untilNoGiveBackRuns(url: string): Promise<void> {
  await eventually(
    () =>
      sql<{ n: number }>(
        url,
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%SET holder = NULL%' AND state <> 'idle' AND pid <> pg_backend_pid()",
      ),
    ([row]) => row!.n === 0,
    { within: 5000, every: 20 },
  );
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(
  `a courier row given back while its instance wants couriers again${POSTGRES_SKIPPED}`,
  () => {
    it('is not taken back by that instance while its give-back is on its way, so no slot is lent twice', async () => {
      const url = await freshDatabase(server!);
      const { c, cId, b, bId, releaseGiveBacks } = await giveBackHeldWhileWanting(url);

      // C takes while its give-back is still on its way: nothing is free, and the row on its way back is not C's to
      // take.
      const takesBefore = await takesBy(url, cId);
      await eventually(
        () => takesBy(url, cId),
        (takes) => takes > takesBefore,
        { within: 5000, every: 20 },
      );
      expect(
        await sql<{ taken: number[] }>(url, 'SELECT taken FROM courier_takes WHERE me = $1 ORDER BY at DESC LIMIT 1', [
          cId,
        ]),
      ).toEqual([{ taken: [] }]);

      // The give-back goes through; B or C takes the row.
      await releaseGiveBacks();
      await untilNoGiveBackRuns(url);
      await expectLentOnceEach(url, c, cId, b, bId);
    });

    it('frees nothing when its release lands after the client gave up on it and the instance took the row again', async () => {
      const url = await freshDatabase(server!);
      // C's client gives up on a statement after 500 ms; in Postgres the statement goes on.
      const { c, cId, b, bId, releaseGiveBacks } = await giveBackHeldWhileWanting(url, 500);

      // The release failed for C: the row is its own again, unknown to it, and its steps want one — it takes it back.
      // Told by what Postgres gave C's takes, not by C holding all five: while B wants one, C holds more than its fair
      // share (3) and gives one back again at once, so "all five" lasts only until then. Waiting for five failed 2
      // full-suite runs of 5 beside busy loops, C's rows at 4 throughout: most likely the slot the take lent went
      // straight to a give-back already in line, and C held five for no longer than a turn.
      await eventually(
        () =>
          sql<{ n: number }>(
            url,
            'SELECT count(*)::int AS n FROM courier_takes WHERE me = $1 AND cardinality(taken) > 0',
            [cId],
          ),
        // Its first take, at start, and the one after its release failed.
        ([row]) => row!.n >= 2,
        { within: 10_000, every: 20 },
      );
      // The release C gave up on goes through now, in Postgres.
      await releaseGiveBacks();
      await untilNoGiveBackRuns(url);
      await expectLentOnceEach(url, c, cId, b, bId);
    });
  },
);

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(
  `a give-back waiting for its slot when the lease is given up${POSTGRES_SKIPPED}`,
  () => {
    it('counts as a slot still lent under that lease: nothing is lent again until it is back, and it gives back no row of the next identity', async () => {
      const url = await freshDatabase(server!);
      await withCourierHooks(url);
      // Another live instance (only a row in Postgres) holds every row but the first: A gets one.
      await rowsHeldElsewhere(url, '00000000-0000-4000-8000-000000000001', 1);
      const a = await instance(url, 1500);
      await a.allotment.start();
      const oldId = a.lease.id()!;
      expect(a.allotment.held).toBe(1);
      const stuck = a.semaphore.tryAcquire(STEP);

      // B wants one: A, whose steps want none, gives its row back — once its step lets go of the slot, which it does
      // not yet.
      const b = await instance(url, 10_000);
      await b.allotment.start();
      const bStep = waitingStep(b.semaphore);
      await eventually(
        async () => a.semaphore.waiting(),
        (waiting) => waiting === 1,
        { within: 5000, every: 10 },
      );
      bStep.withdraw();

      // A's renewals are held until its lease has run out, on its clock and then in Postgres; it registers anew.
      const locker = await holdRenewalsUntilGivenUp(url, a, oldId);
      await eventually(
        () =>
          sql<{ expired: boolean }>(
            url,
            'SELECT lease_until < now() AS expired FROM instances WHERE instance_id = $1',
            [oldId],
          ),
        ([row]) => row!.expired,
        { within: 5000, every: 20 },
      );
      await locker.query('COMMIT');
      await eventually(
        async () => a.lease.id(),
        (id) => id !== undefined,
        { within: 5000, every: 20 },
      );

      // A's steps want a courier. The slot lent under the old lease is still held: A must lend nothing meanwhile.
      const aStep = waitingStep(a.semaphore);
      await Promise.race([aStep.slot, pause(1500)]);
      // The old step lets go; whatever A lends now, it holds rows for.
      a.semaphore.release(stuck, STEP);
      await eventually(
        async () => a.semaphore.waiting(),
        (waiting) => waiting === 0,
        { within: 5000, every: 20 },
      );
      expect(a.allotment.lent).toBeLessThanOrEqual(a.allotment.held);
      expect(await rowsOf(url, a.lease.id()!)).toBe(a.allotment.held);
    });
  },
);

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(
  `an identity given up while Postgres still holds its lease${POSTGRES_SKIPPED}`,
  () => {
    it('lets its rows go as soon as no slot lent under it is out: the next identity lends its couriers again at once, not when Postgres lets the old lease go', async () => {
      const url = await freshDatabase(server!);
      const a = await instance(url, 1500);
      await a.allotment.start();
      const oldId = a.lease.id()!;
      expect(a.allotment.held).toBe(COURIERS);

      // A's renewals are held until it gives its identity up on its own clock.
      const locker = await holdRenewalsUntilGivenUp(url, a, oldId);
      await locker.query('COMMIT');
      await eventually(
        async () => a.lease.id(),
        (id) => id !== undefined,
        { within: 5000, every: 20 },
      );
      // In Postgres the old lease still holds, and for long: the margin, stretched past anything the test waits for
      // (after the renewal held until now, which it would have cut to LEASE_MS, has landed: A registers only then).
      await sql(url, "UPDATE instances SET lease_until = now() + interval '1 hour' WHERE instance_id = $1", [oldId]);

      // Nothing was lent under the old identity when it was given up: its rows are nobody's work, and A's steps get a
      // courier under the new one. Before, the rows stayed the old identity's until Postgres let its lease go (the
      // margin, a second or more: durable.test.ts's restart saw orders time out waiting for a courier meanwhile).
      const step = waitingStep(a.semaphore);
      const slot = await Promise.race([step.slot, pause(3000).then(() => 'still waiting' as const)]);
      expect(slot).not.toBe('still waiting');
      expect(await rowsOf(url, oldId)).toBe(0);
      expect(a.allotment.lent).toBeLessThanOrEqual(a.allotment.held);
      expect(await rowsOf(url, a.lease.id()!)).toBe(a.allotment.held);
    });

    it("releases a later identity's rows only once its own slots are back, even when an earlier release lands after it was given up", async () => {
      const url = await freshDatabase(server!);
      await withCourierHooks(url);
      // Another live instance (only a row in Postgres) holds every row but the first two: A gets those.
      const elsewhere = '00000000-0000-4000-8000-000000000002';
      await rowsHeldElsewhere(url, elsewhere, 2);
      const a = await instance(url, 1500);
      await a.allotment.start();
      const firstId = a.lease.id()!;
      expect(a.allotment.held).toBe(2);

      // The first identity is given up with nothing lent out; the release of its rows is held on its way.
      const releaseGiveBacks = await holdGiveBacks(url);
      const first = await holdRenewalsUntilGivenUp(url, a, firstId);
      await first.query("UPDATE instances SET lease_until = now() + interval '1 hour' WHERE instance_id = $1", [
        firstId,
      ]);
      await first.query('COMMIT');
      const secondId = await eventually(
        async () => a.lease.id(),
        (id) => id !== undefined,
        { within: 5000, every: 20 },
      );
      await eventually(
        () =>
          sql<{ n: number }>(
            url,
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%SET holder = NULL%' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
          ),
        ([row]) => row!.n > 0,
        { within: 5000, every: 20 },
      );

      // The other instance's lease runs out: A's step takes one of its rows, under the second identity.
      await sql(url, 'UPDATE instances SET lease_until = now() WHERE instance_id = $1', [elsewhere]);
      const step = waitingStep(a.semaphore);
      const slot = await Promise.race([step.slot, pause(5000).then(() => -1)]);
      expect(slot).toBeGreaterThanOrEqual(0);
      expect(await rowsOf(url, secondId!)).toBe(1);

      // The second identity is given up too, its step still holding the slot, its lease kept alive in Postgres.
      const second = await holdRenewalsUntilGivenUp(url, a, secondId!);
      await second.query("UPDATE instances SET lease_until = now() + interval '1 hour' WHERE instance_id = $1", [
        secondId,
      ]);
      await second.query('COMMIT');

      // The first release lands: the second identity's row stays held while its slot is out — released then, another
      // instance could take it while A's step still holds the courier.
      await releaseGiveBacks();
      await untilNoGiveBackRuns(url);
      expect({ first: await rowsOf(url, firstId), second: await rowsOf(url, secondId!) }).toEqual({
        first: 0,
        second: 1,
      });

      // The step lets go: now the row goes too.
      a.semaphore.release(slot, STEP);
      await eventually(
        () => rowsOf(url, secondId!),
        (rows) => rows === 0,
        { within: 5000, every: 20 },
      );
    });
  },
);
