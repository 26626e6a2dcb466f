/**
 * Recovery and a run's own instance, on a real Postgres: the recovery pass
 * of an instance settles its own runs only once nothing of this instance
 * will record them any more. A finish on its way is never claimed, and a
 * claim fences out any finish that arrives after it — also when the claimer
 * is the instance that began the run (its own run, presumed orphaned).
 *
 * Races are held open with locks taken by the test's own connection, never
 * with sleeps: a statement waiting on a row lock is on its way, for as long
 * as the test wants.
 */
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RecordedOutcome } from '../../src/orders/order-records.js';
import type { OrderResult } from '../../src/pipeline/order-pipeline.js';
import type { Database } from '../../src/postgres/database.js';
import { DatabaseUnavailable } from '../../src/postgres/failures.js';
import { unanswered } from '../../src/domain/errors.js';
import type { PostgresStore } from '../../src/postgres/postgres-store.js';
import { stopRenewing, useDurableStores } from '../support/durable-stores.js';
import { captureLog } from '../support/log-capture.js';
import { POSTGRES_SKIPPED, POSTGRES_UNAVAILABLE, sql } from '../support/postgres.js';
import { eventually } from '../support/wait.js';
import { orderKey, type OrderKey } from '../../src/domain/order.js';
import { instantRun } from '../support/orders.js';

/** An order of the tests' one client. */
const k = (orderId: string): OrderKey => orderKey('test', orderId);

const stores = useDurableStores();

/** Connections of the test itself, holding locks; rolled back and closed after each test. */
const holders: pg.Client[] = [];
afterEach(async () => {
  await Promise.all(holders.splice(0).map((client) => client.end()));
  vi.restoreAllMocks();
});

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  holders.push(client);
  return client;
}

/** Statements of this database waiting for a lock right now. */
async function waitingOnLocks(url: string): Promise<number> {
  const [row] = await sql<{ n: number }>(
    url,
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
  );
  return row!.n;
}

const ok = (orderId: string): RecordedOutcome => {
  const result: OrderResult = {
    orderId,
    steps: [{ name: 'payment', status: 'ok', durationMs: 3, threadId: 1, attempts: 1, effect: 'applied' }],
    compensations: [],
    failure: undefined,
  };
  return { kind: 'ok', replay: result };
};

async function startedRun(store: PostgresStore, orderId: string): Promise<number> {
  const begun = await store.records.begin(k(orderId), `fp-${orderId}`);
  if (begun.kind !== 'started') throw new Error(`expected a new run of ${orderId}, got ${begun.kind}`);
  return begun.run;
}

/**
 * As if the run had gone on for an hour: older than any orphan threshold, so only this instance's own knowledge keeps
 * recovery off it.
 */
async function makeOld(url: string, orderId: string): Promise<void> {
  await sql(url, "UPDATE orders SET received_at = now() - interval '1 hour' WHERE order_id = $1", [k(orderId)]);
}

/** A store on a fresh database, and a run of `orderId` begun on it, charged, and as old as {@link makeOld} makes it. */
async function paidOldRun(orderId: string): Promise<{ url: string; store: PostgresStore; run: number }> {
  const url = await stores.database();
  const [store] = await stores.open(1, { url });
  const run = await startedRun(store!, orderId);
  expect(await store!.ledger.charge({ order: k(orderId), run }, 1200, false)).toBe('charged');
  await makeOld(url, orderId);
  return { url, store: store!, run };
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(
  `recovery on the instance that runs the order${POSTGRES_SKIPPED}`,
  () => {
    it('never claims a run whose finish is on its way: the paid order is recorded ok and keeps its money', async () => {
      const url = await stores.database();
      // A pool of 4: the finishes go one batch at a time (durable-store.ts), so a batch held on a lock holds the next
      // one back, unsent.
      const [store] = await stores.open(1, { url });
      const paid = await startedRun(store!, 'paid');
      expect(await store!.ledger.charge({ order: k('paid'), run: paid }, 1200, false)).toBe('charged');
      await makeOld(url, 'paid');
      const blocker = await startedRun(store!, 'blocker');

      // The blocker's finish waits on a lock the test holds; the paid order's finish waits behind it, on its way.
      const locker = await connect(url);
      await locker.query('BEGIN');
      await locker.query("SELECT 1 FROM orders WHERE order_id = 'test:blocker' FOR UPDATE");
      const blocked = store!.records.finish(k('blocker'), blocker, ok('blocker'));
      await eventually(
        () => waitingOnLocks(url),
        (n) => n === 1,
      );
      const finishing = store!.records.finish(k('paid'), paid, ok('paid'));

      // A recovery pass runs meanwhile (the first one, as at start; the same code as every later one).
      let passed = false;
      const pass = store!.start().then(() => (passed = true));
      // Either the pass ends, leaving the run alone, or it took the run and voided its payment (the defect).
      await eventually(
        async () => passed || (await store!.ledger.moneyOfRun({ order: k('paid'), run: paid })).refunded > 0,
        Boolean,
      );
      await locker.query('COMMIT');
      await pass;

      expect(await blocked).toBe('ok');
      expect(await finishing).toBe('ok');
      expect(await store!.ledger.moneyOf(k('paid'))).toEqual({ charged: 1200, refunded: 0 });
      expect(await store!.records.get(k('paid'))).toMatchObject({ state: 'done', outcome: { kind: 'ok' } });
      expect(store!.sharedHealth().orders_recovered).toBe(0);
    });

    it('fences out a finish that arrives after the claim, even when the claimer is the instance that began the run', async () => {
      const { url, store, run } = await paidOldRun('claimed');
      // The instance's own bookkeeping misses the run (however that came about): recovery takes it for an orphan of its
      // own.
      vi.spyOn(store.records, 'localRuns').mockReturnValue([]);

      // Recovery claims the run, then its void waits on a lock the test holds on the provider's row.
      const locker = await connect(url);
      await locker.query('BEGIN');
      await locker.query("SELECT 1 FROM provider_payments WHERE order_id = 'test:claimed' FOR UPDATE");
      const pass = store.start();
      await eventually(
        () => waitingOnLocks(url),
        (n) => n === 1,
      );

      // The run's own finish arrives now, between the claim and the void: it must not record a success the void is
      // about to undo.
      expect(await store.records.finish(k('claimed'), run, ok('claimed'))).toBe('interrupted');
      await locker.query('COMMIT');
      await pass;

      expect(await store.ledger.moneyOf(k('claimed'))).toEqual({ charged: 1200, refunded: 1200 });
      expect(await store.records.get(k('claimed'))).toMatchObject({
        state: 'done',
        outcome: { kind: 'interrupted', replay: undefined },
      });
      expect(store.sharedHealth().orders_recovered).toBe(1);
      // A retry is a new run, unfenced: it records as any run does.
      vi.restoreAllMocks();
      const retry = await startedRun(store, 'claimed');
      expect(await store.ledger.charge({ order: k('claimed'), run: retry }, 1200, false)).toBe('charged');
      expect(await store.records.finish(k('claimed'), retry, ok('claimed'))).toBe('ok');
      expect(await store.ledger.moneyOf(k('claimed'))).toEqual({ charged: 2400, refunded: 1200 });
    });

    it('refuses the late undo of an instance whose run was taken over and recorded ok elsewhere: the money stays', async () => {
      const url = await stores.database();
      const [lost, survivor] = await stores.open(2, { url });
      const run = await startedRun(lost!, 'finished-elsewhere');
      const key = { order: k('finished-elsewhere'), run };
      expect(await lost!.ledger.charge(key, 1200, false)).toBe('charged');
      // The survivor claims the run (as its recovery does once the lost one's lease lapses), resumes it and records it
      // ok, all while the lost one is paused: its run still under way there, under the identity it began it with.
      const owner = survivor!.sharedHealth().instance_id!;
      const [claimed] = await sql<{ fence: number }>(
        url,
        'UPDATE orders SET owner = $1, fence = fence + 1 WHERE order_id = $2 RETURNING fence',
        [owner, k('finished-elsewhere')],
      );
      survivor!.records.adopt(run, owner, claimed!.fence);
      expect(await survivor!.records.finish(k('finished-elsewhere'), run, ok('finished-elsewhere'))).toBe('ok');

      // Woken, the lost one undoes what it ran: the run is no longer its own, and done. Its void must not give back the
      // payment of the success on record.
      expect(await lost!.ledger.void(key, false)).toBe('not_held');
      expect(await lost!.ledger.moneyOf(k('finished-elsewhere'))).toEqual({ charged: 1200, refunded: 0 });
    });

    it('never takes a run it has just redriven for an orphan: the order was received long ago, its new run begun now', async () => {
      const url = await stores.database();
      const [store] = await stores.open(1, { url });
      // An order with a deadline of its own (its request kept), parked dead_lettered an hour after it was received.
      const asked = { ...instantRun('test', 'redriven').order, deadlineMs: 30_000 };
      await store!.records.begin(k('redriven'), 'fp-redriven', undefined, asked);
      await sql(
        url,
        `UPDATE orders SET state = 'done', owner = NULL, kind = 'dead_lettered', finished_at = now(),
                replay_until = now() + interval '1 hour', received_at = now() - interval '1 hour'
          WHERE order_id = 'test:redriven'`,
      );
      expect(await store!.records.redrive(k('redriven'), ['dead_lettered'], [])).toMatchObject({ kind: 'redriven' });
      // A recovery pass whose list of this instance's runs was read before the redrive's answer added the new run.
      vi.spyOn(store!.records, 'localRuns').mockReturnValue([]);
      await store!.start();

      expect(await sql(url, "SELECT state, runs, recoveries FROM orders WHERE order_id = 'test:redriven'")).toEqual([
        { state: 'running', runs: 2, recoveries: 0 },
      ]);
      expect(store!.sharedHealth().orders_recovered).toBe(0);
    });

    it('never claims a run it still runs under an identity it gave up: that run ends here, under that identity', async () => {
      const { url, store } = await paidOldRun('kept');
      // The identity it began the run under has lapsed (a pause past its lease); its new one runs recovery. Taken over by
      // it, the run would be recorded by the run still under way here, as the new identity's: its undo refused once
      // claimed (the void is fenced), its money kept under an outcome that holds none.
      await sql(url, "UPDATE orders SET owner = '00000000-0000-4000-8000-000000000001' WHERE order_id = 'test:kept'");
      await store.start();

      expect(await sql(url, "SELECT state, recoveries FROM orders WHERE order_id = 'test:kept'")).toEqual([
        { state: 'running', recoveries: 0 },
      ]);
      expect(await store.ledger.moneyOf(k('kept'))).toEqual({ charged: 1200, refunded: 0 });
      expect(store.sharedHealth().orders_recovered).toBe(0);
    });
  },
);

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`recovery of a lost instance's runs${POSTGRES_SKIPPED}`, () => {
  it('says in its line what it recorded: canceled for a run a cancel was marked on, interrupted for one without', async () => {
    const url = await stores.database();
    const [lost] = await stores.open(1, { url });
    const [marked, unmarked] = [await startedRun(lost!, 'marked'), await startedRun(lost!, 'unmarked')];
    for (const [orderId, run] of [
      ['marked', marked],
      ['unmarked', unmarked],
    ] as const)
      expect(await lost!.ledger.charge({ order: k(orderId), run }, 1200, false)).toBe('charged');
    expect(await lost!.records.requestCancel(k('marked'), { actor: 'admin' })).toEqual({ kind: 'marked', run: marked });
    await stopRenewing(url, lost!);

    const log = captureLog();
    const [survivor] = await stores.open(1, { url, log: log.logger });
    await survivor!.start();

    expect(await survivor!.records.get(k('marked'))).toMatchObject({ state: 'done', outcome: { kind: 'canceled' } });
    expect(await survivor!.records.get(k('unmarked'))).toMatchObject({
      state: 'done',
      outcome: { kind: 'interrupted' },
    });
    const takeovers = log.lines
      .filter((line) => String(line['msg']).startsWith('took over an order'))
      .map((line) => [line['order_id'], line['msg']]);
    expect(takeovers).toEqual(
      expect.arrayContaining([
        ['marked', expect.stringMatching(/recorded canceled$/)],
        ['unmarked', expect.stringMatching(/recorded interrupted$/)],
      ]),
    );
    expect(takeovers).toHaveLength(2);
  });
});

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`a begin whose answer is lost${POSTGRES_SKIPPED}`, () => {
  it('fails as unanswered once sent: it may commit after its caller gave up on it, and here it does', async () => {
    const url = await stores.database();
    // LEASE_MS 2000: statements time out after 1 s.
    const [store] = await stores.open(1, { url, leaseMs: 2000 });
    const locker = await connect(url);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE orders IN SHARE MODE');
    const failure = await store!.records.begin(k('held-begin'), 'fp-held-begin').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(unanswered(failure)).toBe(true);
    await locker.query('COMMIT');
    // The statement was still waiting in Postgres: the lock released, it begins the run its caller was told failed.
    await eventually(
      () => sql<{ state: string }>(url, "SELECT state FROM orders WHERE order_id = 'test:held-begin'"),
      (rows) => rows.length === 1,
    );
  });
});

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`a finish whose answer is lost${POSTGRES_SKIPPED}`, () => {
  /**
   * The store's connection pool, to lose the answers of its finishes (the one place a test reaches inside the store).
   */
  const databaseOf = (store: PostgresStore): Database => (store as unknown as { db: Database }).db;
  const isFinish = (statement: unknown): boolean =>
    typeof statement === 'object' &&
    statement !== null &&
    (statement as { name?: string }).name === 'order_finish_here_many';

  it('is written again until an answer comes: the client learns the truth (ok, its money kept), never "interrupted"', async () => {
    const [store] = await stores.open(1);
    const run = await startedRun(store!, 'lost-answer');
    expect(await store!.ledger.charge({ order: k('lost-answer'), run }, 1200, false)).toBe('charged');
    const db = databaseOf(store!);
    const query = db.query.bind(db);
    let lost = 0;
    // The first finish commits, and its answer is lost on the way back (the connection went): as when Postgres pauses
    // mid-commit.
    vi.spyOn(db, 'query').mockImplementation(async (statement, values) => {
      const rows = await query(statement, values);
      if (isFinish(statement) && lost++ === 0)
        throw new DatabaseUnavailable('Postgres is unreachable: Connection terminated unexpectedly');
      return rows;
    });
    expect(await store!.records.finish(k('lost-answer'), run, ok('lost-answer'))).toBe('ok');
    expect(lost).toBe(2);
    expect(await store!.records.get(k('lost-answer'))).toMatchObject({ state: 'done', outcome: { kind: 'ok' } });
    expect(await store!.ledger.moneyOf(k('lost-answer'))).toEqual({ charged: 1200, refunded: 0 });
  });

  it('says the outcome is unknown when no answer comes in time, and leaves the run to recovery', async () => {
    const [store] = await stores.open(1, { leaseMs: 1000 });
    const run = await startedRun(store!, 'never-answered');
    const db = databaseOf(store!);
    const query = db.query.bind(db);
    vi.spyOn(db, 'query').mockImplementation(async (statement, values) => {
      if (isFinish(statement)) throw new DatabaseUnavailable('Postgres is unreachable');
      return query(statement, values);
    });
    const started = performance.now();
    expect(await store!.records.finish(k('never-answered'), run, ok('never-answered'))).toBe('outcome_unknown');
    // Tried for 2 × LEASE_MS, no longer.
    expect(performance.now() - started).toBeGreaterThanOrEqual(1500);
    expect(performance.now() - started).toBeLessThan(4000);
    expect(store!.records.localRuns()).not.toContain(run);
    expect(await store!.records.get(k('never-answered'))).toMatchObject({ state: 'running' });
  });
});
