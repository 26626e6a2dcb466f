/**
 * The life of an order, as one state machine (drawn in docs/design.md, "The
 * life of an order"): the states GET /orders/{order_id} says in
 * `lifecycle`, the moves between them, and which recorded outcome ends in
 * which state. Every change of an order's state in the service is one of
 * `MOVES`; test/unit/lifecycle.test.ts holds every move to it.
 *
 *   accepted ──► running ──► succeeded | failed | canceled
 *                  │  ▲
 *                  ▼  │ (durable: forward recovery)
 *             interrupted ──► resumed ──► running
 *                  │
 *                  └─► dead_lettered (after ORDER_MAX_RECOVERIES) ──► running (redriven)
 *
 * Every state is reached. Resumed and dead_lettered are the durable mode's
 * (forward recovery, src/postgres/recovery.ts): an instance that takes over
 * a lost instance's order with its deadline still ahead runs it on — said
 * `resumed` until it ends — after its steps recorded ok; one taken over
 * more than ORDER_RECOVERIES_MAX times is parked `dead_lettered` instead.
 * In memory the process is the only record: an order never outlives it, so
 * nothing is resumed. The admin's redrive (POST /admin/orders/{id}/redrive)
 * sends a dead_lettered order, or one failed by the infrastructure
 * (`REDRIVABLE_OUTCOMES`), on again as a new run, durable mode only.
 */
import type { OrderFailureKind } from './errors.js';

export const LIFECYCLE_STATES = [
  'accepted',
  'running',
  'succeeded',
  'failed',
  'canceled',
  'interrupted',
  'resumed',
  'dead_lettered',
] as const;
export type Lifecycle = (typeof LIFECYCLE_STATES)[number];

/**
 * The outcomes an admin may redrive: parked, or failed by the infrastructure rather than by anything the order asked
 * for (a business failure would only fail again).
 */
export const REDRIVABLE_OUTCOMES: readonly OrderFailureKind[] = [
  'dead_lettered',
  'interrupted',
  'thread_lost',
  'shutting_down',
  'store_unavailable',
  'outcome_unknown',
];

/** Takeovers of an order whose instance was lost after which it is no longer resumed (ORDER_RECOVERIES_MAX's default). */
export const DEFAULT_RECOVERIES_MAX = 3;

/** What moves an order from one state to the next. */
export type LifecycleEvent =
  | 'steps_started' // its run's steps were handed to the threads
  | 'steps_succeeded' // every step ended ok, and the outcome is recorded
  | 'steps_failed' // a step failed (or its deadline passed), what stood was undone, the outcome recorded
  | 'cancel' // its client or the admin canceled it: what was charged refunded, recorded canceled
  | 'instance_lost' // its instance died (or lost its lease) while it ran
  | 'taken_over' // another instance claimed it with its deadline still ahead: it resumes
  | 'deadline_passed' // claimed past its deadline: voided, recorded interrupted for good
  | 'recoveries_exhausted' // claimed once more than ORDER_MAX_RECOVERIES allows: parked
  | 'redriven'; // the admin sent it on again (POST /admin/orders/{id}/redrive)

/** Every move: from a state, on an event, to a state. A move not listed here does not happen. */
export const MOVES: Readonly<Record<Lifecycle, Partial<Readonly<Record<LifecycleEvent, Lifecycle>>>>> = {
  accepted: { steps_started: 'running', cancel: 'canceled', instance_lost: 'interrupted' },
  running: {
    steps_succeeded: 'succeeded',
    steps_failed: 'failed',
    cancel: 'canceled',
    instance_lost: 'interrupted',
  },
  interrupted: {
    taken_over: 'resumed',
    deadline_passed: 'interrupted',
    recoveries_exhausted: 'dead_lettered',
    cancel: 'canceled',
    redriven: 'running',
  },
  resumed: { steps_started: 'running', cancel: 'canceled', instance_lost: 'interrupted' },
  dead_lettered: { redriven: 'running' },
  failed: { redriven: 'running' },
  succeeded: {},
  canceled: {},
};

/** The state an order moves to on `event`, or undefined if the machine has no such move. */
export function nextState(from: Lifecycle, event: LifecycleEvent): Lifecycle | undefined {
  return MOVES[from][event];
}

/**
 * States an order ends in: none moves on by itself (dead_lettered and failed only by a redrive). Not interrupted: an
 * interrupted order waits for recovery to take it over — resumed while its own deadline (`deadline_ms`) leaves time,
 * voided for good otherwise (`deadline_passed`).
 */
export const TERMINAL_STATES: ReadonlySet<Lifecycle> = new Set(['succeeded', 'failed', 'canceled', 'dead_lettered']);

/**
 * The outcomes an order ends in as a state of its own; every other failure ends it `failed`. The durable list's
 * indexes name them (src/postgres/migrations/0020-orders-listed-by-lifecycle.sql).
 */
export const OWN_ENDINGS = ['canceled', 'interrupted', 'dead_lettered'] as const satisfies readonly OrderFailureKind[];

/**
 * The state of an order from its record: running (`resumed` when its run was taken over from a lost instance and runs
 * on), or how its latest run ended.
 */
export function lifecycleOf(
  state: 'running' | 'done',
  outcome: OrderFailureKind | 'ok' | undefined,
  resumed = false,
): Lifecycle {
  if (state === 'running') return resumed ? 'resumed' : 'running';
  if (outcome === 'ok') return 'succeeded';
  return (OWN_ENDINGS as readonly string[]).includes(outcome ?? '') ? (outcome as Lifecycle) : 'failed';
}
