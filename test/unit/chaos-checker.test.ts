/**
 * The chaos harness's checker (test/chaos/checker.ts) on tiny histories
 * written by hand: each row is one order's story, or one thing seen of the
 * instances and the courier pool, and the violations the checker must find
 * in it — none for a story that keeps every promise. Without Postgres or a
 * process: the checker is pure.
 */
import { describe, expect, it } from 'vitest';
import {
  check,
  type FinalOrder,
  type InstanceAtRest,
  type Observations,
  type RecordedOrder,
  type ViolationKind,
} from '../chaos/checker.js';
import type {
  Attempt,
  AttemptEnd,
  CancelAttempt,
  CourierSample,
  DependencyOutage,
  InstanceExit,
  OrderBody,
  TimelineEntry,
} from '../chaos/history.js';
import { everyAction } from '../../src/domain/steps.js';
import { checkEvents } from '../chaos/event-check.js';
import { breakersAsk, type BreakerJson } from '../chaos/at-rest.js';
import type { EffectRecord, OrderBooks, StepRecord, Takeover } from '../chaos/durable-check.js';

const ID = 'o-1';
const AMOUNT = 1200;
const BODY: OrderBody = { order_id: ID, amount: AMOUNT, delay_ms: everyAction(10) };

function answer(status: number, kind: string, { steps = true, replayed = false } = {}): AttemptEnd {
  const error = kind === 'ok' ? {} : { error: { kind, message: 'order failed' } };
  const body = JSON.stringify({
    status: kind === 'ok' ? 'ok' : 'error',
    ...(steps ? { order_id: ID, steps: [] } : {}),
    ...error,
  });
  return { kind: 'answered', status, body, replayed };
}
const OK = answer(200, 'ok');

function attempt(
  end: AttemptEnd,
  { at = 0, instance = 'A', why = 'first' }: { at?: number; instance?: string; why?: Attempt['why'] } = {},
): Attempt {
  return { orderId: ID, why, instance, pid: 100, state: 'up', sentMs: at, endedMs: at + 50, end };
}

function done(kind: string, status: number, charged: number, refunded: number): RecordedOrder {
  return {
    found: true,
    state: 'done',
    outcome: { http_status: status, kind },
    runs: 1,
    payment: { charged, refunded },
  };
}

const IDLE: InstanceAtRest = {
  name: 'A',
  health: {
    running_steps: 0,
    orders_in_flight: 0,
    couriers_busy: 0,
    durable: { instance_id: 'id-a', store: 'up', lease: 'held', orders_running: 0, couriers_held: 3 },
  },
  rowsHeld: 3,
};

interface Story {
  readonly body?: OrderBody;
  readonly attempts?: readonly Attempt[];
  readonly cancels?: readonly CancelAttempt[];
  readonly final?: FinalOrder;
  readonly alarmed?: boolean;
  readonly instances?: readonly InstanceAtRest[];
  readonly rowsOfDeadIdentities?: readonly number[];
  readonly samples?: ReadonlyArray<ReadonlyArray<number | null> | CourierSample>;
  readonly timeline?: readonly TimelineEntry[];
  readonly exits?: readonly InstanceExit[];
  readonly healFailure?: string;
  /** What Postgres holds of the order's runs at rest; none: not read. */
  readonly books?: OrderBooks;
  readonly takeovers?: readonly Takeover[];
  /** The dependency outages the nemesis switched. */
  readonly outages?: readonly DependencyOutage[];
}

const LIMITS = { pausedHolderBoundMs: 700, orderTimeoutMs: 3000, recoveryWindowMs: 10_000 };

function kindsFound(story: Story): ViolationKind[] {
  const courierSamples: CourierSample[] = (story.samples ?? []).map((sample, i) =>
    'atMs' in sample ? sample : { atMs: i * 100, busy: sample, rows: null },
  );
  const observed: Observations = {
    couriers: 3,
    orders: new Map([[ID, story.final ?? done('ok', 200, AMOUNT, 0)]]),
    instances: story.instances ?? [IDLE],
    rowsOfDeadIdentities: story.rowsOfDeadIdentities ?? [],
    alarmed: new Set(story.alarmed ? [ID] : []),
    healFailure: story.healFailure,
    ...(story.books ? { durable: { books: new Map([[ID, story.books]]), takeovers: story.takeovers ?? [] } } : {}),
  };
  const history = {
    instances: ['A', 'B', 'C'],
    orders: [story.body ?? BODY],
    attempts: [...(story.attempts ?? [attempt(OK)])],
    cancels: [...(story.cancels ?? [])],
    exits: [...(story.exits ?? [])],
    timeline: [...(story.timeline ?? [])],
    courierSamples,
    outages: [...(story.outages ?? [])],
  };
  return [...new Set(check(history, observed, LIMITS).map((violation) => violation.kind))];
}

/** A courier sample: busy and believed per instance, identities, and Postgres's live rows per identity. */
function courierSample(
  atMs: number,
  busy: number[],
  held: number[],
  identities: Array<string | null>,
  rows: Record<string, number>,
): CourierSample {
  const holders = Object.entries(rows).map(([holder, n]) => ({ holder, rows: n, live: true }));
  const live = holders.reduce((sum, holder) => sum + holder.rows, 0);
  return { atMs, busy, held, identities, rows: { live, dead: 0, free: 3 - live }, holders };
}
const pausedB: TimelineEntry[] = [
  { atMs: 100, actor: 'nemesis', what: 'SIGSTOP B (pid 7) for 2.0 s' },
  { atMs: 2100, actor: 'nemesis', what: 'SIGCONT B (pid 7)' },
];
/**
 * B paused past its lease while its steps held 2 couriers; A and C took its rows; B, resumed, still lends 2 under no
 * rows.
 */
const pausedHolder = (lastOverMs: number): CourierSample[] => [
  courierSample(0, [1, 2, 0], [1, 2, 0], ['aaaaaaaa', 'bbbbbbbb', 'cccccccc'], { aaaaaaaa: 1, bbbbbbbb: 2 }),
  courierSample(2200, [1, 2, 1], [1, 0, 2], ['aaaaaaaa', null, 'cccccccc'], { aaaaaaaa: 1, cccccccc: 2 }),
  courierSample(lastOverMs, [1, 2, 2], [1, 0, 2], ['aaaaaaaa', 'dddddddd', 'cccccccc'], { aaaaaaaa: 1, cccccccc: 2 }),
  courierSample(lastOverMs + 100, [1, 0, 2], [1, 0, 2], ['aaaaaaaa', 'dddddddd', 'cccccccc'], {
    aaaaaaaa: 1,
    cccccccc: 2,
  }),
];

const refusedRefund: OrderBody = { ...BODY, fail_step: 'vendor', fail_compensation: true };

/** POST /order's 202 to a request with Prefer: respond-async. */
const ACCEPTED: AttemptEnd = {
  kind: 'answered',
  status: 202,
  body: JSON.stringify({ status: 'accepted', order_id: ID, lifecycle: 'accepted' }),
  replayed: false,
};
/** A cancel of the order, answered `status` with the order's `lifecycle`. */
function cancel(status: number, lifecycle: string): CancelAttempt {
  const body =
    status === 409 ? { status: 'error', error: { kind: 'order_ended' }, lifecycle } : { order_id: ID, lifecycle };
  return {
    orderId: ID,
    instance: 'B',
    sentMs: 10,
    endedMs: 30,
    end: { kind: 'answered', status, body: JSON.stringify(body), replayed: false },
  };
}
const CANCELED = answer(409, 'canceled');

const stories: ReadonlyArray<readonly [string, Story, readonly ViolationKind[]]> = [
  ['a 200, charged once', {}, []],
  ['a 200, its payment refunded (defect 1)', { final: done('ok', 200, AMOUNT, AMOUNT) }, ['ok_without_its_money']],
  [
    'a 200, charged twice (a retry ran again: defect 3)',
    { final: { ...done('ok', 200, 2 * AMOUNT, 0), runs: 2 } },
    ['ok_without_its_money'],
  ],
  [
    'a 200 on a second run after an interrupted first',
    {
      attempts: [attempt(answer(503, 'interrupted')), attempt(OK, { at: 500, why: 'retry_after_not_final' })],
      final: { ...done('ok', 200, 2 * AMOUNT, AMOUNT), runs: 2 },
    },
    [],
  ],
  [
    'interrupted, voided',
    { attempts: [attempt(answer(503, 'interrupted'))], final: done('interrupted', 503, AMOUNT, AMOUNT) },
    [],
  ],
  [
    'interrupted, its money kept',
    { attempts: [attempt(answer(503, 'interrupted'))], final: done('interrupted', 503, AMOUNT, 0) },
    ['money_without_ok'],
  ],
  [
    'answered 200, recorded interrupted and voided',
    { final: done('interrupted', 503, AMOUNT, AMOUNT) },
    ['ok_without_its_money', 'outcome_disagrees'],
  ],
  [
    'recorded ok, every request answered, none 200',
    { attempts: [attempt(answer(503, 'interrupted'))], final: done('ok', 200, AMOUNT, 0) },
    ['outcome_disagrees'],
  ],
  [
    'outcome unknown (the store went away while it was recorded), recorded ok',
    { attempts: [attempt(answer(503, 'outcome_unknown'))], final: done('ok', 200, AMOUNT, 0) },
    [],
  ],
  [
    'outcome unknown, nothing kept: voided by recovery',
    { attempts: [attempt(answer(503, 'outcome_unknown'))], final: done('interrupted', 503, AMOUNT, AMOUNT) },
    [],
  ],
  [
    'outcome unknown, nothing kept, its money kept',
    { attempts: [attempt(answer(503, 'outcome_unknown'))], final: done('interrupted', 503, AMOUNT, 0) },
    ['money_without_ok'],
  ],
  [
    'recorded ok, the only client hung up',
    { attempts: [attempt({ kind: 'hung_up' })], final: done('ok', 200, AMOUNT, 0) },
    [],
  ],
  [
    'a duplicate joined, same answer',
    { attempts: [attempt(OK), attempt(OK, { instance: 'B', why: 'duplicate' })] },
    [],
  ],
  [
    'a replay that differs from the first final answer',
    {
      attempts: [
        attempt(OK),
        attempt({ ...answer(200, 'ok'), body: '{"status":"ok","order_id":"o-1","steps":[{}]}' } as AttemptEnd, {
          at: 100,
        }),
      ],
    },
    ['replay_differs'],
  ],
  [
    'compensation_failed, refusal asked, alarm written',
    {
      body: refusedRefund,
      attempts: [attempt(answer(500, 'compensation_failed'))],
      final: done('compensation_failed', 500, AMOUNT, 0),
      alarmed: true,
    },
    [],
  ],
  [
    'compensation_failed without its alarm line',
    {
      body: refusedRefund,
      attempts: [attempt(answer(500, 'compensation_failed'))],
      final: done('compensation_failed', 500, AMOUNT, 0),
    },
    ['compensation_failed_unlogged'],
  ],
  [
    'compensation_failed for an order whose refund nobody refused (defect 2)',
    {
      body: { ...BODY, fail_step: 'vendor' },
      attempts: [attempt(answer(500, 'compensation_failed'))],
      final: done('compensation_failed', 500, AMOUNT, 0),
      alarmed: true,
    },
    ['compensation_failed_without_refusal'],
  ],
  [
    'an alarm line for an order interrupted and refunded in the end (defect 5)',
    { attempts: [attempt(answer(503, 'interrupted'))], final: done('interrupted', 503, AMOUNT, AMOUNT), alarmed: true },
    ['false_alarm'],
  ],
  [
    "an alarm line for an order dead-lettered, its payment voided: parked for a person's redrive, as designed",
    {
      attempts: [attempt(answer(503, 'interrupted'))],
      final: done('dead_lettered', 500, AMOUNT, AMOUNT),
      alarmed: true,
    },
    [],
  ],
  [
    'the failure it asked for',
    {
      body: { ...BODY, fail_step: 'payment' },
      attempts: [attempt(answer(400, 'payment_declined'))],
      final: done('payment_declined', 400, 0, 0),
    },
    [],
  ],
  [
    'a final failure nobody asked for',
    { attempts: [attempt(answer(500, 'internal'))], final: done('internal', 500, 0, 0) },
    ['unexplained_failure'],
  ],
  [
    'a request refused as a reused id',
    {
      attempts: [attempt(answer(422, 'idempotency_key_reuse', { steps: false }))],
      final: { found: false, payment: { charged: 0, refunded: 0 } },
    },
    ['unexplained_failure'],
  ],
  [
    'never reached the service',
    {
      attempts: [attempt({ kind: 'failed', error: 'ECONNREFUSED' })],
      final: { found: false, payment: { charged: 0, refunded: 0 } },
    },
    [],
  ],
  [
    'no record, yet money with the provider',
    {
      attempts: [attempt({ kind: 'failed', error: 'ECONNRESET' })],
      final: { found: false, payment: { charged: AMOUNT, refunded: 0 } },
    },
    ['money_without_ok'],
  ],
  [
    'still running at rest',
    {
      attempts: [attempt({ kind: 'timed_out' })],
      final: { found: true, state: 'running', outcome: null, runs: 1, payment: { charged: AMOUNT, refunded: 0 } },
    },
    ['left_running'],
  ],
  ['unreadable at rest', { final: { found: 'unreadable', why: '503' } }, ['order_unreadable']],
  [
    'a step still running on an instance',
    { instances: [{ ...IDLE, health: { ...IDLE.health!, running_steps: 1 } }] },
    ['left_running'],
  ],
  ['an instance that does not answer at rest', { instances: [{ ...IDLE, health: undefined }] }, ['not_serving']],
  [
    'instances that could not be brought back',
    { healFailure: 'instances not serving after 30000 ms: B (starting)' },
    ['not_serving'],
  ],
  ['a courier row of a dead identity', { rowsOfDeadIdentities: [2] }, ['courier_held_by_dead_identity']],
  [
    'an instance that lends rows Postgres does not give it',
    { instances: [{ ...IDLE, rowsHeld: 2 }] },
    ['courier_rows_disagree'],
  ],
  [
    'couriers within COURIERS',
    {
      samples: [
        [1, 1, 1],
        [3, null, 0],
        [2, 1, 0],
      ],
    },
    [],
  ],
  [
    'one sample over COURIERS (skew between reads)',
    {
      samples: [
        [1, 1, 1],
        [2, 2, 0],
        [1, 1, 1],
      ],
    },
    [],
  ],
  [
    'over COURIERS in consecutive samples (defect 7)',
    {
      samples: [
        [1, 1, 1],
        [3, 2, 0],
        [3, 2, 2],
        [1, 1, 1],
      ],
    },
    ['couriers_over_capacity'],
  ],
  [
    "a paused holder's overlap: B, resumed past its lease, still lends what it held before",
    { timeline: pausedB, samples: pausedHolder(2300) },
    [],
  ],
  [
    "a paused holder's overlap that outlasts the bound",
    { timeline: pausedB, samples: pausedHolder(2900) },
    ['couriers_over_capacity'],
  ],
  [
    'slots lent after a lease was given up, with no pause of their instance',
    { samples: pausedHolder(2300) },
    ['couriers_over_capacity'],
  ],
  [
    'an instance lending a row Postgres has under another (seed 205)',
    {
      samples: [
        courierSample(0, [0, 3, 1], [0, 3, 1], ['aaaaaaaa', 'bbbbbbbb', 'cccccccc'], { bbbbbbbb: 3 }),
        courierSample(100, [0, 3, 1], [0, 3, 1], ['aaaaaaaa', 'bbbbbbbb', 'cccccccc'], { bbbbbbbb: 3 }),
      ],
    },
    ['couriers_over_capacity'],
  ],
  [
    'a probe order not served',
    { attempts: [attempt(OK), attempt(answer(504, 'timeout'), { why: 'probe', at: 900 })] },
    ['not_serving'],
  ],
  [
    'an instance killed by the nemesis',
    { exits: [{ instance: 'B', pid: 7, atMs: 10, code: null, signal: 'SIGKILL', expected: true, tail: '' }] },
    [],
  ],
  [
    'an instance that died by itself',
    { exits: [{ instance: 'B', pid: 7, atMs: 10, code: 1, signal: null, expected: false, tail: 'fatal' }] },
    ['instance_crashed'],
  ],
];

describe('the chaos checker', () => {
  it.each(stories)('%s', (_, story, expected) => {
    expect(kindsFound(story).sort()).toEqual([...expected].sort());
  });
});

describe('the chaos checker’s events', () => {
  const committed = [
    { id: 'evt_a', seq: 1, orderId: 'o1', type: 'order.failed' },
    { id: 'evt_b', seq: 2, orderId: 'o1', type: 'payment.refunded' },
    { id: 'evt_c', seq: 3, orderId: 'o2', type: 'order.succeeded' },
  ];
  const taken = (id: string, orderId: string, accepted = true, signed = true) => ({
    id,
    orderId,
    type: 'x',
    signed,
    accepted,
  });

  it('finds nothing when every committed event was taken, in order per order, duplicates and failed attempts aside', () => {
    const received = [
      taken('evt_c', 'o2'),
      taken('evt_a', 'o1', false),
      taken('evt_a', 'o1'),
      taken('evt_b', 'o1'),
      taken('evt_a', 'o1'),
    ];
    expect(checkEvents(committed, received)).toEqual([]);
  });

  it('finds an event never taken, one that never committed, one order’s events out of order, a bad signature', () => {
    const received = [
      taken('evt_b', 'o1'),
      taken('evt_a', 'o1'),
      taken('evt_ghost', 'o3'),
      taken('evt_c', 'o2', false, false),
    ];
    expect(checkEvents(committed, received).map((finding) => finding.kind)).toEqual([
      'event_not_delivered',
      'event_without_commit',
      'event_signature_invalid',
      'events_out_of_order',
    ]);
  });
});

describe('orders accepted now and canceled', () => {
  it.each<[string, Story, ViolationKind[]]>([
    ['accepted, then ended ok', { attempts: [attempt(ACCEPTED)] }, []],
    [
      'accepted, then no record of it at rest',
      { attempts: [attempt(ACCEPTED)], final: { found: false, payment: { charged: 0, refunded: 0 } } },
      ['accepted_lost'],
    ],
    [
      'accepted, still running at rest',
      { attempts: [attempt(ACCEPTED)], final: { ...done('ok', 200, AMOUNT, 0), state: 'running', outcome: null } },
      ['left_running'],
    ],
    [
      'canceled while it ran: refunded, the cancel and the record agree',
      {
        attempts: [attempt(CANCELED)],
        cancels: [cancel(200, 'canceled')],
        final: done('canceled', 409, AMOUNT, AMOUNT),
      },
      [],
    ],
    [
      'canceled, its payment kept',
      { attempts: [attempt(CANCELED)], cancels: [cancel(200, 'canceled')], final: done('canceled', 409, AMOUNT, 0) },
      ['cancel_left_money'],
    ],
    [
      'canceled, its client never told, its payment kept',
      {
        attempts: [attempt({ kind: 'hung_up' })],
        cancels: [cancel(202, 'running')],
        final: done('canceled', 409, AMOUNT, 0),
      },
      ['cancel_left_money'],
    ],
    [
      'a cancel said canceled, a success recorded over it',
      { attempts: [attempt(OK)], cancels: [cancel(200, 'canceled')], final: done('ok', 200, AMOUNT, 0) },
      ['cancel_disagrees'],
    ],
    [
      'a cancel found it succeeded, and it is recorded so',
      { attempts: [attempt(OK)], cancels: [cancel(409, 'succeeded')] },
      [],
    ],
    [
      'a cancel found it succeeded, yet it ended canceled',
      {
        attempts: [attempt(CANCELED)],
        cancels: [cancel(409, 'succeeded')],
        final: done('canceled', 409, AMOUNT, AMOUNT),
      },
      ['cancel_disagrees'],
    ],
    [
      'canceled without any cancel sent',
      { attempts: [attempt(CANCELED)], final: done('canceled', 409, AMOUNT, AMOUNT) },
      ['unexplained_failure'],
    ],
  ])('%s', (_name, story, expected) => {
    expect(kindsFound(story)).toEqual(expected);
  });
});

/** A request of run 7 as the vendor's or the courier service's books received it. */
const effect = (step: string, answer: EffectRecord['answer'], run = 7): EffectRecord => ({ run, step, answer });

describe('orders accepted, resumed after their instance was lost', () => {
  const RUN = 7;
  const step = (name: string, takeover: number): StepRecord => ({
    run: RUN,
    step: name,
    attempt: takeover + 1,
    outcome: 'ok',
  });
  /** Its payment recorded before its instance was lost; resumed once, its vendor and courier run by the taker. */
  const resumed: OrderBooks = {
    run: RUN,
    finishedAtMs: 25_000,
    recoveries: 1,
    payments: [{ run: RUN, charged: AMOUNT, refunded: 0 }],
    steps: [step('payment', 0), step('vendor', 1), step('courier', 1)],
    effects: [effect('vendor', 'applied'), effect('courier', 'applied')],
  };
  const takeover: Takeover = { orderId: ID, run: RUN, recoveries: 1, stepsDone: 1, atMs: 3000 };
  const withDeadline: OrderBody = { ...BODY, deadline_ms: 20_000 };
  // The 202 heard at +0.05 s: due by its deadline and the recovery window after that.
  const dueMs = 50 + 20_000 + LIMITS.recoveryWindowMs;

  it.each<[string, Story, ViolationKind[]]>([
    [
      'resumed after its recorded payment, ended in time, charged once',
      { body: withDeadline, attempts: [attempt(ACCEPTED)], books: resumed, takeovers: [takeover] },
      [],
    ],
    [
      'ended at the last moment of its deadline and the recovery window',
      { body: withDeadline, attempts: [attempt(ACCEPTED)], books: { ...resumed, finishedAtMs: dueMs } },
      [],
    ],
    [
      'ended after its deadline and the recovery window',
      { body: withDeadline, attempts: [attempt(ACCEPTED)], books: { ...resumed, finishedAtMs: dueMs + 1 } },
      ['accepted_overdue'],
    ],
    [
      'with no deadline of its own, ended long after ORDER_TIMEOUT_MS and the recovery window',
      {
        attempts: [attempt(ACCEPTED)],
        books: { ...resumed, finishedAtMs: 50 + LIMITS.orderTimeoutMs + LIMITS.recoveryWindowMs + 500 },
      },
      ['accepted_overdue'],
    ],
    [
      'answered 200 without Prefer, ended late: no promise of an accepted order',
      { body: withDeadline, books: { ...resumed, finishedAtMs: dueMs + 60_000 } },
      [],
    ],
    [
      'resumed under a new run, charged under both',
      {
        body: withDeadline,
        attempts: [attempt(ACCEPTED)],
        final: done('ok', 200, 2 * AMOUNT, 0),
        books: {
          ...resumed,
          payments: [
            { run: RUN, charged: AMOUNT, refunded: 0 },
            { run: RUN + 1, charged: AMOUNT, refunded: 0 },
          ],
        },
      },
      ['ok_without_its_money', 'charged_twice'],
    ],
    [
      // The order's totals balance; only the run's own books show it was charged twice.
      'charged twice under one run, refunded once',
      {
        body: withDeadline,
        attempts: [attempt(ACCEPTED)],
        final: done('ok', 200, 2 * AMOUNT, AMOUNT),
        books: { ...resumed, payments: [{ run: RUN, charged: 2 * AMOUNT, refunded: AMOUNT }] },
      },
      ['charged_twice'],
    ],
    [
      'interrupted, then run afresh: the first run refunded, the second charged',
      {
        body: withDeadline,
        attempts: [attempt(ACCEPTED)],
        final: { ...done('ok', 200, 2 * AMOUNT, AMOUNT), runs: 2 },
        books: {
          ...resumed,
          payments: [
            { run: RUN - 1, charged: AMOUNT, refunded: AMOUNT },
            { run: RUN, charged: AMOUNT, refunded: 0 },
          ],
        },
      },
      [],
    ],
    [
      'a takeover ran again the vendor its lost instance had recorded ok',
      {
        body: withDeadline,
        attempts: [attempt(ACCEPTED)],
        books: { ...resumed, steps: [step('payment', 0), step('vendor', 0), step('courier', 1)] },
        takeovers: [takeover],
      },
      ['step_applied_twice'],
    ],
    [
      'taken over twice; the second takeover ran again the courier the first had recorded ok',
      {
        body: withDeadline,
        attempts: [attempt(ACCEPTED)],
        books: { ...resumed, recoveries: 2, steps: [step('payment', 0), step('vendor', 2), step('courier', 1)] },
        takeovers: [takeover, { ...takeover, recoveries: 2, atMs: 6000 }],
      },
      ['step_applied_twice'],
    ],
    [
      'taken over twice, each after every step recorded by then',
      {
        body: withDeadline,
        attempts: [attempt(ACCEPTED)],
        books: { ...resumed, recoveries: 2, steps: [step('payment', 0), step('vendor', 2), step('courier', 1)] },
        takeovers: [takeover, { ...takeover, recoveries: 2, stepsDone: 2, atMs: 6000 }],
      },
      [],
    ],
    [
      'resumed, then canceled: its payment refunded',
      {
        body: withDeadline,
        attempts: [attempt(ACCEPTED)],
        cancels: [cancel(200, 'canceled')],
        final: done('canceled', 409, AMOUNT, AMOUNT),
        books: { ...resumed, payments: [{ run: RUN, charged: AMOUNT, refunded: AMOUNT }] },
        takeovers: [takeover],
      },
      [],
    ],
    [
      'resumed, then canceled: its payment kept',
      {
        body: withDeadline,
        attempts: [attempt(ACCEPTED)],
        cancels: [cancel(200, 'canceled')],
        final: done('canceled', 409, AMOUNT, 0),
        books: resumed,
        takeovers: [takeover],
      },
      ['cancel_left_money'],
    ],
  ])('%s', (_name, story, expected) => {
    expect(kindsFound(story)).toEqual(expected);
  });
});

describe('each step’s external effect, counted from its service’s books', () => {
  const RUN = 7;
  const ok = (name: string, takeover = 0): StepRecord => ({
    run: RUN,
    step: name,
    attempt: takeover + 1,
    outcome: 'ok',
  });
  /** An order sent with its own deadline, on record ok: its three steps recorded ok, their effects in the books. */
  const books = (
    effects: readonly EffectRecord[],
    steps = [ok('payment'), ok('vendor'), ok('courier')],
  ): OrderBooks => ({
    run: RUN,
    finishedAtMs: 1000,
    recoveries: 0,
    payments: [{ run: RUN, charged: AMOUNT, refunded: 0 }],
    steps,
    effects,
  });
  const both = [effect('vendor', 'applied'), effect('courier', 'applied')];

  it.each<[string, Story, ViolationKind[]]>([
    ['every step recorded ok has its effect once', { books: books(both) }, []],
    [
      // The paused instance finished its vendor late; the survivor's was applied, its own refused.
      'a step run again after a takeover: the survivor’s applied, the paused instance’s late request stale',
      {
        books: books([...both, effect('vendor', 'stale')], [ok('payment'), ok('vendor', 1), ok('courier')]),
      },
      [],
    ],
    [
      'a step run again after its thread was lost: its second request a duplicate',
      { books: books([effect('vendor', 'applied'), effect('vendor', 'duplicate'), effect('courier', 'applied')]) },
      [],
    ],
    [
      'the vendor recorded ok, its effect nowhere in the books',
      { books: books([effect('courier', 'applied')]) },
      ['effect_missing'],
    ],
    [
      'the vendor’s effect applied twice under one run (two instances each doing it)',
      { books: books([...both, effect('vendor', 'applied')], [ok('payment'), ok('vendor', 1), ok('courier')]) },
      ['effect_applied_twice'],
    ],
    [
      // An order sent without a deadline of its own records no step: its outcome ok says every step was.
      'on record ok with no step recorded: its latest run’s courier without its effect',
      { books: books([effect('vendor', 'applied')], []) },
      ['effect_missing'],
    ],
    [
      'failed at its vendor: the vendor not ok, no effect; the courier’s recorded and applied',
      {
        body: { ...BODY, fail_step: 'vendor' },
        attempts: [attempt(answer(503, 'vendor_unavailable'))],
        final: done('vendor_unavailable', 503, AMOUNT, AMOUNT),
        books: books([effect('courier', 'applied')], [ok('payment'), ok('courier')]),
      },
      [],
    ],
    [
      'an earlier run’s effect, then the retry’s own: one per run',
      {
        books: {
          ...books([...both, effect('vendor', 'applied', RUN - 1)]),
          payments: [
            { run: RUN - 1, charged: AMOUNT, refunded: AMOUNT },
            { run: RUN, charged: AMOUNT, refunded: 0 },
          ],
        },
        final: { ...done('ok', 200, 2 * AMOUNT, AMOUNT), runs: 2 },
      },
      [],
    ],
    [
      'the courier applied again under its run, a request whose fence went unchecked',
      { books: books([...both, effect('courier', 'applied')]) },
      ['effect_applied_twice'],
    ],
  ])('%s', (_name, story, expected) => {
    expect(kindsFound(story)).toEqual(expected);
  });
});

describe('orders failed by a dependency’s outage the nemesis switched', () => {
  const outage = (dependency: string, fromMs: number, toMs: number): DependencyOutage => ({
    dependency,
    instance: 'B',
    fromMs,
    toMs,
  });
  const unavailable = answer(503, 'vendor_unavailable');
  /** The same answer with another body: not a replay of it. */
  const anotherBody = (end: AttemptEnd): AttemptEnd =>
    end.kind === 'answered' ? { ...end, body: `${end.body} ` } : end;
  it.each<[string, Story, ViolationKind[]]>([
    [
      'vendor_unavailable with no outage and no fail_step: unexplained',
      { attempts: [attempt(unavailable)], final: done('vendor_unavailable', 503, AMOUNT, AMOUNT) },
      ['unexplained_failure'],
    ],
    [
      'vendor_unavailable while the vendor was out on an instance: an outage’s, which passes',
      {
        attempts: [attempt(unavailable, { at: 100 })],
        final: done('vendor_unavailable', 503, AMOUNT, AMOUNT),
        outages: [outage('vendor', 0, 1000)],
      },
      [],
    ],
    [
      'the outage’s failure, then a retry that succeeded: not a replay that differs',
      {
        attempts: [attempt(unavailable, { at: 100 }), attempt(OK, { at: 2000, why: 'retry_after_not_final' })],
        outages: [outage('vendor', 0, 1000)],
      },
      [],
    ],
    [
      'vendor_unavailable while only the payment provider was out: unexplained',
      {
        attempts: [attempt(unavailable, { at: 100 })],
        final: done('vendor_unavailable', 503, AMOUNT, AMOUNT),
        outages: [outage('payment', 0, 1000)],
      },
      ['unexplained_failure'],
    ],
    [
      'an outage over before the order was sent explains nothing',
      {
        attempts: [attempt(unavailable, { at: 5000 })],
        final: done('vendor_unavailable', 503, AMOUNT, AMOUNT),
        outages: [outage('vendor', 0, 1000)],
      },
      ['unexplained_failure'],
    ],
    [
      // The order asked its vendor to fail, and the outage refused the vendor's call first: the service did not replay
      // that answer (an outage's), and a retry failed again as asked, with another body.
      'asked to fail at the vendor, during a vendor outage: two answers of its kind, not one replayed',
      {
        body: { ...BODY, fail_step: 'vendor' },
        attempts: [
          attempt(unavailable, { at: 100 }),
          attempt(anotherBody(unavailable), { at: 600, why: 'retry_after_error' }),
        ],
        final: done('vendor_unavailable', 503, AMOUNT, AMOUNT),
        outages: [outage('vendor', 0, 1000)],
      },
      [],
    ],
    [
      // Accepted, it ran on after its 202: an outage later than the answer may have failed it.
      'accepted, then failed by an outage switched after its 202',
      {
        attempts: [attempt(ACCEPTED, { at: 100 })],
        final: done('vendor_unavailable', 503, AMOUNT, AMOUNT),
        outages: [outage('vendor', 3000, 4000)],
      },
      [],
    ],
  ])('%s', (_name, story, expected) => {
    expect(kindsFound(story)).toEqual(expected);
  });
});

describe('the harness at rest: breakers an outage opened, before the final probe', () => {
  const NOW = Date.parse('2026-11-29T08:00:00Z');
  const breaker = (state: BreakerJson['state'], openForMs?: number): BreakerJson => ({
    state,
    open_until: openForMs === undefined ? null : new Date(NOW + openForMs).toISOString(),
  });
  it.each<[string, (BreakerJson | null)[], ReturnType<typeof breakersAsk>]>([
    ['every breaker closed', [breaker('closed'), breaker('closed'), breaker('closed')], 'closed'],
    ['no breakers (BREAKER_FAILURES=0)', [null, null, null], 'closed'],
    // Seed 9402: the probe's four orders met the vendor's breaker half open: one let through, three refused.
    ['one half open: an order to be its probe', [breaker('closed'), breaker('half_open'), breaker('closed')], 'probe'],
    ['one open for 1.5 s more: wait for it', [breaker('open', 1500), breaker('closed'), breaker('closed')], 1500],
    ['one open, its time up: an order to be its probe', [breaker('open', -10), breaker('closed'), null], 'probe'],
  ])('%s', (_name, breakers, expected) => {
    expect(breakersAsk(breakers, NOW)).toEqual(expected);
  });
});
