/**
 * What a client means to do with one order, drawn in full from its seeded
 * stream before anything is sent — the body, where each copy goes, when it
 * hangs up, how long it waits, how it retries — so that the same seed draws
 * the same plans whatever the timing turns out to be.
 *
 * The mix: mostly ordinary orders of a few hundred milliseconds; some slow
 * ones, close to ORDER_TIMEOUT_MS and longer than the instances' lease (a run
 * outliving a lease period is where recovery and a finish can race); some
 * told to fail a step, some whose refund the provider refuses, some whose
 * steps commit a thread fault; duplicates sent to several instances at once;
 * clients that hang up mid-order or give up early, then retry; some sent
 * with `Prefer: respond-async` (answered 202, their end heard later), most
 * of those with a deadline of their own (`deadline_ms`, tens of seconds) and
 * a step of a second or two, so that an instance killed under them leaves
 * runs for another to resume; some canceled on a random instance while they
 * may still run.
 */
import { FAULTS, type Fault } from '../../src/domain/faults.js';
import { ACTION_NAMES, STEP_NAMES, type ActionName, type StepName } from '../../src/domain/order.js';
import { everyAction, isCompensation } from '../../src/domain/steps.js';
import type { OrderBody } from './history.js';
import type { Seeded } from './seeded.js';

export interface OrderPlan {
  readonly body: OrderBody;
  /** Instance of each copy sent at once: the first, then its duplicates (all different). */
  readonly targets: readonly number[];
  /** The first copy hangs up this long after it was sent (then retried). */
  readonly hangUpAfterMs: number | undefined;
  /** How long each attempt waits for its answer before hanging up. */
  readonly timeoutMs: number;
  /** Attempts at most, the first included; each retry goes to the next instance. */
  readonly maxAttempts: number;
  readonly retryPauseMs: number;
  /** Before the client's next order. */
  readonly thinkMs: number;
  /** Sent with `Prefer: respond-async`. */
  readonly respondAsync: boolean;
  /** A cancel sent this long after the order, to that instance; undefined: none. */
  readonly cancel: { readonly afterMs: number; readonly target: number } | undefined;
}

export interface Timing {
  /** The instances' ORDER_TIMEOUT_MS. */
  readonly orderTimeoutMs: number;
  /** The shortest and longest `deadline_ms` an accepted order asks for: long enough to outlive its instance. */
  readonly acceptedDeadlineMs: readonly [number, number];
}

/** Longer than any order may run: an ordinary client waits this long. */
const PATIENCE_MARGIN_MS = 1500;

function delays(rand: Seeded, { orderTimeoutMs }: Timing): Record<ActionName, number> {
  // One draw per action, in the registry's order: the payment quicker, a compensation quicker still.
  const ceiling = (action: ActionName): number => (action === 'payment' ? 200 : isCompensation(action) ? 80 : 300);
  const delay = Object.fromEntries(ACTION_NAMES.map((action) => [action, rand.int(5, ceiling(action))])) as Record<
    ActionName,
    number
  >;
  const pace = rand.float();
  const step = rand.pick(STEP_NAMES);
  // Slow: longer than two lease periods, shorter than the deadline.
  if (pace < 0.1) delay[step] = rand.int(Math.floor(orderTimeoutMs * 0.6), Math.floor(orderTimeoutMs * 0.95));
  // Too slow: the deadline strikes (504).
  else if (pace < 0.13) delay[step] = rand.int(orderTimeoutMs + 100, orderTimeoutMs + 1000);
  return delay;
}

export function drawPlan(rand: Seeded, orderId: string, instances: number, timing: Timing): OrderPlan {
  const delay_ms = delays(rand, timing);
  const cpu = rand.chance(0.1) ? { payment: rand.int(1, 15) } : undefined;
  const kind = rand.weighted({ ordinary: 80, failStep: 8, refusedRefund: 4, fault: 8 });
  const failStep = rand.pick(STEP_NAMES);
  // A refund runs only when the order fails after its payment went through.
  const failAfterPayment = rand.pick(['vendor', 'courier'] as const satisfies readonly StepName[]);
  const faultTarget = rand.pick(ACTION_NAMES);
  const fault: Fault = rand.pick(FAULTS);
  let body: OrderBody = { order_id: orderId, amount: rand.int(1, 5000), delay_ms, ...(cpu ? { cpu_ms: cpu } : {}) };
  if (kind === 'failStep') body = { ...body, fail_step: failStep };
  if (kind === 'refusedRefund')
    body = {
      ...body,
      fail_step: failAfterPayment,
      fail_compensation: true,
      delay_ms: { ...delay_ms, payment: Math.min(delay_ms.payment, 20) },
    };
  if (kind === 'fault') {
    body = { ...body, faults: { [faultTarget]: fault } };
    if (faultTarget === 'refund')
      body = {
        ...body,
        fail_step: failAfterPayment,
        delay_ms: { ...delay_ms, payment: Math.min(delay_ms.payment, 20) },
      };
  }

  const first = rand.int(0, instances - 1);
  const copies = rand.weighted({ one: 85, two: 10, all: 5 });
  const skip = rand.int(1, instances - 1);
  const others = Array.from({ length: instances - 1 }, (_, d) => (first + 1 + d) % instances);
  const targets =
    copies === 'one' ? [first] : copies === 'two' ? [first, (first + skip) % instances] : [first, ...others];
  const longest = Math.max(...Object.values(delay_ms));
  const hangUp = rand.chance(0.08);
  const hangUpAfterMs = rand.int(5, Math.max(10, longest));
  const impatient = rand.chance(0.07);
  const impatientMs = rand.int(100, timing.orderTimeoutMs);
  // Drawn from a stream of the order's own: the plans of seeds drawn before these were added stay as they were.
  const later = rand.fork(orderId);
  const respondAsync = later.chance(0.2);
  const cancel = later.chance(0.08)
    ? { afterMs: later.int(0, longest + 50), target: later.int(0, instances - 1) }
    : undefined;
  if (respondAsync && later.chance(0.7)) body = resumable(later, body, timing);
  return {
    body,
    targets,
    respondAsync,
    cancel,
    hangUpAfterMs: hangUp ? hangUpAfterMs : undefined,
    timeoutMs: impatient ? impatientMs : timing.orderTimeoutMs + PATIENCE_MARGIN_MS,
    maxAttempts: rand.int(2, 4),
    retryPauseMs: rand.int(50, 600),
    thinkMs: rand.int(0, 150),
  };
}

/**
 * `body` with a deadline of its own, and one of its steps slow enough (a second or two) that a kill of its instance
 * often finds it under way: the run another instance resumes after its recorded steps.
 */
function resumable(rand: Seeded, body: OrderBody, { acceptedDeadlineMs: [shortest, longest] }: Timing): OrderBody {
  return {
    ...body,
    deadline_ms: rand.int(shortest, longest),
    delay_ms: { ...body.delay_ms, [rand.pick(STEP_NAMES)]: rand.int(800, 2500) },
  };
}

/** An order whose payment commits `fault` on its thread: the nemesis's thread faults, sent in bursts. */
export function faultyOrder(rand: Seeded, orderId: string): OrderBody {
  const delay_ms = {
    ...everyAction(20),
    ...(Object.fromEntries(STEP_NAMES.map((step) => [step, rand.int(5, step === 'payment' ? 100 : 300)])) as Record<
      StepName,
      number
    >),
  };
  return {
    order_id: orderId,
    amount: rand.int(1, 5000),
    delay_ms,
    faults: { [rand.pick(STEP_NAMES)]: rand.pick(FAULTS) },
  };
}
