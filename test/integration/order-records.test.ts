/**
 * The order records, as a contract: the same table of cases for every
 * implementation of OrderRecords — in memory, and in Postgres, where
 * "instances" are stores of their own on one database (a throwaway server
 * for the file, a fresh database for each case). Then what only the shared
 * store does: a run whose instance was lost is taken over.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryOrderRecords } from '../../src/orders/memory-order-records.js';
import type { OrderRecords, RecordedOutcome } from '../../src/orders/order-records.js';
import type { OrderResult } from '../../src/pipeline/order-pipeline.js';
import { stopRenewing, useDurableStores } from '../support/durable-stores.js';
import { POSTGRES_SKIPPED, POSTGRES_UNAVAILABLE } from '../support/postgres.js';
import { eventually, pause } from '../support/wait.js';
import { orderKey, type OrderKey } from '../../src/domain/order.js';

/** An order of the tests' one client. */
const k = (orderId: string): OrderKey => orderKey('test', orderId);

const stores = useDurableStores();

/** `n` instances sharing one store: the same records in memory, stores of their own on one database in Postgres. */
type Instances = (n: number, options?: { replayMs?: number }) => Promise<OrderRecords[]>;

const IMPLEMENTATIONS: ReadonlyArray<[string, Instances]> = [
  [
    'in memory',
    async (n, { replayMs = 60_000 } = {}) => {
      const records = new MemoryOrderRecords(replayMs, 1 << 20);
      return Array.from({ length: n }, () => records);
    },
  ],
  ['in Postgres', async (n, options) => (await stores.open(n, options)).map((store) => store.records)],
];

const result = (orderId: string, failure?: OrderResult['failure']): OrderResult => ({
  orderId,
  steps: [{ name: 'payment', status: 'ok', durationMs: 3, threadId: 1, attempts: 1, effect: 'applied' }],
  compensations: [],
  failure,
});
const final = (orderId: string): RecordedOutcome => ({ kind: 'ok', replay: result(orderId) });
const passing: RecordedOutcome = { kind: 'timeout', replay: undefined };

/** Rounds of a begin and a cancel sent together: enough that a cancel lands between a begin's insert and its commit. */
const CANCEL_RACE_ROUNDS = 400;

async function started(records: OrderRecords, orderId: string, fingerprint = `fp-${orderId}`): Promise<number> {
  const begun = await records.begin(k(orderId), fingerprint);
  if (begun.kind !== 'started') throw new Error(`expected a new run of ${orderId}, got ${begun.kind}`);
  return begun.run;
}

describe.each(IMPLEMENTATIONS)('OrderRecords %s', (name, instances) => {
  beforeEach((test) => {
    if (name === 'in Postgres' && POSTGRES_UNAVAILABLE !== undefined) test.skip(POSTGRES_SKIPPED);
  });
  it('begins a run, says it is under way, records how it ended, runs again after an outcome that is not final, replays one that is', async () => {
    const [records] = await instances(1);
    const first = await started(records!, 'a', 'fp-a');
    expect(await records!.get(k('a'))).toMatchObject({
      key: k('a'),
      fingerprint: 'fp-a',
      state: 'running',
      runs: 1,
      outcome: undefined,
    });
    expect(await records!.begin(k('a'), 'fp-a')).toEqual({ kind: 'running', run: first });
    expect(await records!.finish(k('a'), first, passing)).toBe('timeout');
    expect(await records!.get(k('a'))).toMatchObject({
      state: 'done',
      runs: 1,
      outcome: { kind: 'timeout', replay: undefined },
    });

    const second = await started(records!, 'a', 'fp-a');
    expect(second).not.toBe(first);
    expect(await records!.finish(k('a'), second, final('a'))).toBe('ok');
    expect(await records!.get(k('a'))).toMatchObject({ state: 'done', runs: 2, outcome: { kind: 'ok' } });
    expect(await records!.begin(k('a'), 'fp-a')).toEqual({ kind: 'replay', result: result('a') });
    expect(await records!.begin(k('a'), 'fp-other')).toEqual({ kind: 'reused' });
    expect(await records!.get(k('never'))).toBeUndefined();
  });

  it('keeps ids apart whatever they hold', async () => {
    const [records] = await instances(1);
    const ids = ['x\u0000y', 'x\\0y', 'x\\\u0000', '\u{1F600}'];
    for (const [i, id] of ids.entries())
      await records!.finish(k(id), await started(records!, id, `fp-${i}`), final(id));
    for (const [i, id] of ids.entries())
      expect(await records!.begin(k(id), `fp-${i}`)).toEqual({ kind: 'replay', result: result(id) });
  });

  it('begins an order once when many instances begin it at once: one run, the others told it is under way', async () => {
    const all = await instances(3);
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => all[i % 3]!.begin(k('contended'), 'fp')));
    const runs = answers.filter((answer) => answer.kind === 'started');
    expect(runs).toHaveLength(1);
    const run = (runs[0] as { run: number }).run;
    expect(answers.filter((answer) => answer.kind === 'running')).toEqual(
      Array.from({ length: 29 }, () => ({ kind: 'running', run })),
    );
  });

  it('says a cancel racing the order’s begin marked the run only when it did: the run’s success is then refused', async () => {
    const [owner, other] = await instances(2);
    const said = new Map<string, number>();
    for (let i = 0; i < CANCEL_RACE_ROUNDS; i++) {
      const [begun, mark] = await Promise.all([
        owner!.begin(k(`raced-${i}`), 'fp'),
        other!.requestCancel(k(`raced-${i}`), { actor: 'acme' }),
      ]);
      if (begun.kind !== 'started') throw new Error(`expected a new run, got ${begun.kind}`);
      const finished = await owner!.finish(k(`raced-${i}`), begun.run, final(`raced-${i}`));
      const kind = `${mark?.kind ?? 'unknown'} ${finished}`;
      said.set(kind, (said.get(kind) ?? 0) + 1);
    }
    console.log(`cancels racing a begin (${name}): ${JSON.stringify(Object.fromEntries(said))}`);
    // Marked, it is refused; not found yet, the run ran on unmarked. Never a mark the success went past.
    expect([...said.keys()].filter((kind) => kind !== 'marked cancel_requested' && kind !== 'unknown ok')).toEqual([]);
  });

  it('lets a caller on another instance wait for a run: told its outcome once it is recorded, or let go when it leaves', async () => {
    const [owner, other] = await instances(2);
    const run = await started(owner!, 'waited');
    const waiting = other!.awaitRun(k('waited'), run, new AbortController().signal);
    const leaving = new AbortController();
    const left = other!.awaitRun(k('waited'), run, leaving.signal);
    await pause(50);
    leaving.abort(new Error('gone'));
    await expect(left).rejects.toThrow('gone');
    await owner!.finish(k('waited'), run, final('waited'));
    expect(await waiting).toEqual(final('waited'));
    // A run already over is told at once.
    expect(await other!.awaitRun(k('waited'), run, new AbortController().signal)).toEqual(final('waited'));
  });

  it('forgets an outcome after its replay window: the id is free again, for any order', async () => {
    const [records] = await instances(1, { replayMs: 150 });
    await records!.finish(k('brief'), await started(records!, 'brief'), final('brief'));
    expect(await records!.begin(k('brief'), 'fp-brief')).toMatchObject({ kind: 'replay' });
    await pause(200);
    expect(await records!.get(k('brief'))).toBeUndefined();
    await started(records!, 'brief', 'fp-another-order');
  });
});

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(
  `OrderRecords in Postgres, when an instance is lost${POSTGRES_SKIPPED}`,
  () => {
    it('has its runs taken over once its lease expires: payment voided, recorded interrupted, its own finish told so, and a waiter let go', async () => {
      const url = await stores.database();
      const [lost] = await stores.open(1, { url, leaseMs: 600 });
      const run = await started(lost!.records, 'orphan');
      expect(await lost!.ledger.charge({ order: k('orphan'), run }, 1200, false)).toBe('charged');
      // The lost instance stops renewing (as if killed) but its connections stay open, so its finish can be tried
      // later.
      await stopRenewing(url, lost!);
      const [survivor] = await stores.open(1, { url });
      const waiting = survivor!.records.awaitRun(k('orphan'), run, new AbortController().signal);
      await survivor!.start();
      const recorded = await eventually(
        () => survivor!.records.get(k('orphan')),
        (record) => record?.state === 'done',
        { within: 5000, every: 100 },
      );
      expect(recorded).toMatchObject({ outcome: { kind: 'interrupted', replay: undefined } });
      expect(await survivor!.ledger.moneyOf(k('orphan'))).toEqual({ charged: 1200, refunded: 1200 });
      expect(await waiting).toEqual({ kind: 'interrupted', replay: undefined });
      expect(await lost!.records.finish(k('orphan'), run, final('orphan'))).toBe('interrupted');
      expect(survivor!.sharedHealth()).toMatchObject({ orders_recovered: 1 });
      // A retry runs afresh.
      expect(await survivor!.records.begin(k('orphan'), 'fp-orphan')).toMatchObject({ kind: 'started' });
    });
  },
);
