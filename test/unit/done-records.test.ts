/**
 * A done order as a small record (src/orders/done-records.ts, outcome-codec.ts): whatever it was, it reads back as
 * it was written — its replay field for field and answer for answer (or the answer it keeps only to show), its books, runs, tier, own deadline and id, whatever the id
 * holds — and the records, their index and their log agree with a plain Map through any mix of orders begun, done,
 * run again and expired. Then what a done order takes, measured, against what the bound charges it.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { ORDER_FAILURE_KINDS, type OrderFailureKind } from '../../src/domain/errors.js';
import { ACTION_NAMES, orderKey, type Order, type OrderKey } from '../../src/domain/order.js';
import { TIERS, type Tier } from '../../src/domain/tier.js';
import { orderResponseText } from '../../src/http/wire/order-json.js';
import type { FoldedBooks } from '../../src/ledger/memory-ledger.js';
import { MemoryOrderRecords } from '../../src/orders/memory-order-records.js';
import type { RecordedOutcome } from '../../src/orders/order-records.js';
import type { OrderResult } from '../../src/pipeline/order-pipeline.js';
import type { StepOutcome } from '../../src/pipeline/steps.js';
import { measureRecordBytes } from '../../load/lib/record-bytes.js';

/** Any number a field may hold: small and large whole numbers, and the odd ones written as 8 bytes. */
const anyNumber = fc.oneof(
  fc.nat(200),
  fc.nat(),
  fc.maxSafeNat(),
  fc.constantFrom(0.5, -1, -0, 2 ** 52, Number.MAX_VALUE, Infinity, NaN),
  fc.double(),
);
const kind = fc.constantFrom(...ORDER_FAILURE_KINDS);
const optional = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: undefined });

const action: fc.Arbitrary<StepOutcome> = fc.record({
  name: fc.constantFrom(...ACTION_NAMES),
  status: fc.constantFrom('ok', 'error', 'canceled'),
  durationMs: anyNumber,
  threadId: optional(anyNumber),
  kind: optional(kind),
  cause: optional(kind),
  threadFate: optional(fc.constantFrom('terminated', 'died')),
  attempts: fc.oneof(fc.constant(1), anyNumber),
  effect: optional(fc.constantFrom('applied', 'refused')),
  dependency: optional(fc.constantFrom('answered', 'failed')),
  retries: optional(anyNumber),
});

/** An order id: Latin-1, anything of UTF-16 (lone surrogates too), colons, NULs. */
const orderId = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 128 }),
  fc.string({ unit: fc.constantFrom('a', 'é', ':', '\u0000', '\ud800', '😀'), minLength: 1, maxLength: 64 }),
  fc.string({ minLength: 20, maxLength: 36 }),
);

const books: fc.Arbitrary<FoldedBooks | undefined> = optional(
  fc.record({
    latest: fc.record({
      run: fc.integer({ min: 1, max: 5 }),
      charged: anyNumber,
      refunded: anyNumber,
      voided: fc.boolean(),
      declined: fc.boolean(),
    }),
    earlier: fc.oneof(fc.constant({ charged: 0, refunded: 0 }), fc.record({ charged: anyNumber, refunded: anyNumber })),
  }),
);

/** The answer of a run of order `id`, naming the tier its run ran at, as the order desk records it. */
const answer = (id: string, tier: Tier | undefined, failure: fc.Arbitrary<OrderFailureKind | undefined>) =>
  fc
    .record({
      steps: fc.array(action, { maxLength: ACTION_NAMES.length }),
      compensations: fc.array(action, { maxLength: 2 }),
      failure,
      failedByDependency: fc.boolean(),
    })
    .map(({ steps, compensations, failure, failedByDependency }): OrderResult => ({
      orderId: id,
      steps,
      compensations,
      failure,
      ...(failedByDependency ? { failedByDependency: true as const } : {}),
      ...(tier ? { tier } : {}),
    }));

/** An outcome of order `id`: none of its answer kept, its answer replayed, or its answer kept only to be shown. */
const outcome = (id: string, tier: Tier | undefined): fc.Arbitrary<RecordedOutcome> =>
  fc.oneof(
    fc.record({ kind: fc.constantFrom('ok' as const, ...ORDER_FAILURE_KINDS), replay: fc.constant(undefined) }),
    // Its kind is its failure's, mostly; a run taken over is recorded with another.
    fc
      .record({ replay: answer(id, tier, optional(kind)), other: optional(kind) })
      .map(({ replay, other }): RecordedOutcome => ({ kind: other ?? replay.failure ?? 'ok', replay })),
    // A passing outcome (a timeout's), whose steps ran: never replayed; its failure is its kind.
    answer(id, tier, kind)
      .filter((answered) => answered.steps.length > 0)
      .map((answered): RecordedOutcome => ({ kind: answered.failure!, replay: undefined, answered })),
  );

const done = fc
  .record({
    client: fc.constantFrom('anonymous', 'shop-a', 'x'.repeat(64)),
    id: orderId,
    tier: optional(fc.constantFrom(...TIERS)),
    deadlineMs: optional(anyNumber),
    books,
    // Who canceled its run, if a cancel was marked on it: kept once it ends canceled.
    canceledBy: optional(
      fc.record({
        actor: fc.constantFrom('admin', 'shop-a', 'x'.repeat(64)),
        actorKey: optional(fc.constant('sha256:0123456789ab')),
      }),
    ),
  })
  .chain((order) => fc.record({ order: fc.constant(order), outcome: outcome(order.id, order.tier) }));

/** Records with an hour to live, folding in `books` as their orders are done. */
function recordsWith(books: FoldedBooks | undefined): MemoryOrderRecords {
  return new MemoryOrderRecords(3_600_000, 2 ** 30, {
    ledger: { takeBooks: () => books, giveBooks: () => {} },
  });
}

describe('a done record', () => {
  test.prop([done], { numRuns: 400 })(
    'reads back as written: its replay field for field, its answer byte for byte, its books, runs, tier and own deadline',
    async ({ order, outcome }) => {
      const records = recordsWith(order.books);
      const key = orderKey(order.client, order.id);
      // Only its deadline of the order as asked is kept.
      const asked = { deadlineMs: order.deadlineMs } as Order;
      const begun = await records.begin(key, 'fingerprint', order.tier, asked);
      expect(begun).toEqual({ kind: 'started', run: 1 });
      // A success over a mark is not recorded (it is undone, then recorded canceled): no mark before one.
      const marked = order.canceledBy !== undefined && outcome.kind !== 'ok';
      if (marked) await records.requestCancel(key, order.canceledBy!);
      await records.finish(key, 1, outcome);
      const record = await records.get(key);
      expect(record).toEqual({
        key,
        fingerprint: expect.any(String),
        runs: 1,
        state: 'done',
        outcome,
        ...(order.tier ? { tier: order.tier } : {}),
        ...(order.deadlineMs === undefined ? {} : { ownDeadlineMs: order.deadlineMs }),
        ...(marked && outcome.kind === 'canceled' ? { canceled: { ...order.canceledBy, at: expect.any(Number) } } : {}),
      });
      expect(records.booksOf(key)).toEqual(order.books);
      const again = await records.begin(key, 'fingerprint', order.tier);
      if (outcome.replay) {
        expect(again).toEqual({ kind: 'replay', result: outcome.replay });
        const replayed = (again as { result: OrderResult }).result;
        expect(orderResponseText(replayed)).toBe(orderResponseText(outcome.replay));
        // Fields absent stay absent, zeros stay zeros, -0 stays -0.
        for (const [i, step] of [...outcome.replay.steps, ...outcome.replay.compensations].entries()) {
          const read = [...replayed.steps, ...replayed.compensations][i]!;
          for (const field of Object.keys(step) as Array<keyof StepOutcome>)
            expect(Object.is(read[field], step[field]), field).toBe(true);
        }
      } else expect(again).toEqual({ kind: 'started', run: 2 });
      expect(await records.begin(key, 'another order')).toEqual({ kind: 'reused' });
    },
  );
});

type Operation =
  | { readonly op: 'run'; readonly id: number; readonly fingerprint: number; readonly final: boolean }
  | { readonly op: 'wait'; readonly ms: number };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  {
    weight: 20,
    arbitrary: fc.record({
      op: fc.constant('run' as const),
      id: fc.nat(20_000),
      fingerprint: fc.nat(1),
      final: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('wait' as const), ms: fc.nat(200) }) },
);

/** What a record must say, kept the plain way. */
interface Modeled {
  readonly fingerprint: number;
  runs: number;
  final: boolean;
  expiresAt: number;
}

describe('the done records', () => {
  test.prop([fc.array(operation, { minLength: 10_000, maxLength: 20_000 })], { numRuns: 5 })(
    'say what a Map would, through orders begun, done, run again and expired — across chunks, the index growing and shrinking',
    async (operations) => {
      let now = 0;
      const ttlMs = 10_000;
      const records = new MemoryOrderRecords(ttlMs, 2 ** 30, { now: () => now });
      const model = new Map<OrderKey, Modeled>();
      // Wide ids for every third order: two bytes a code unit.
      const keyOf = (id: number): OrderKey =>
        orderKey(`client-${id % 3}`, id % 3 === 0 ? `ordér-😀-${id}` : `order-${id}`);
      for (const step of operations) {
        if (step.op === 'wait') {
          now += step.ms;
          continue;
        }
        const key = keyOf(step.id);
        const kept = model.get(key);
        const live = kept && kept.expiresAt > now ? kept : undefined;
        const begun = await records.begin(key, `fp-${step.fingerprint}`);
        if (live && live.fingerprint !== step.fingerprint) {
          expect(begun).toEqual({ kind: 'reused' });
          continue;
        }
        if (live?.final) {
          expect(begun).toMatchObject({ kind: 'replay' });
          continue;
        }
        const runs = (live?.runs ?? 0) + 1;
        expect(begun).toEqual({ kind: 'started', run: runs });
        const result: OrderResult = { orderId: key, steps: [], compensations: [], failure: undefined };
        await records.finish(
          key,
          runs,
          step.final ? { kind: 'ok', replay: result } : { kind: 'timeout', replay: undefined },
        );
        model.set(key, { fingerprint: step.fingerprint, runs, final: step.final, expiresAt: now + ttlMs });
      }
      let live = 0;
      for (const [key, kept] of model) {
        const record = await records.get(key);
        if (kept.expiresAt <= now) expect(record).toBeUndefined();
        else {
          live++;
          expect(record).toMatchObject({
            state: 'done',
            runs: kept.runs,
            outcome: { kind: kept.final ? 'ok' : 'timeout' },
          });
        }
      }
      expect(records.size()).toBe(live);
      now += ttlMs;
      await records.begin(orderKey('client-0', 'last'), 'fp');
      await records.finish(orderKey('client-0', 'last'), 1, { kind: 'timeout', replay: undefined });
      expect(records.size()).toBe(1);
    },
  );
});

describe('what a done order takes', () => {
  it(
    'is at most 100 bytes all in, measured with its index and its books, and charged no less in the bound: 64 MB keep 10 minutes of 1,000 orders/s',
    // Two or three seconds of CPU: 200,000 orders run through the store.
    { timeout: 120_000 },
    async () => {
      // What npm run measure -- record-bytes measures, in one round.
      const { measuredPerOrder, chargedPerOrder, kept } = await measureRecordBytes(200_000);
      expect(kept).toBe(200_000);
      expect(measuredPerOrder).toBeLessThanOrEqual(chargedPerOrder);
      expect(chargedPerOrder).toBeLessThanOrEqual(100);
      expect(600_000 * chargedPerOrder).toBeLessThanOrEqual(64 * 2 ** 20);
    },
  );
});
