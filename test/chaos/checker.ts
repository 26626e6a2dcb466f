/**
 * The checker: the whole history of a run against what the service and
 * Postgres say once everything has recovered. Pure — data in, violations
 * out — so that it is tested on tiny histories written by hand
 * (test/unit/chaos-checker.test.ts).
 *
 * For every order any client sent:
 * - money: a client told 200 (or an outcome recorded `ok`) leaves charged −
 *   refunded equal to the amount, exactly once net; any other outcome leaves
 *   0 — except `compensation_failed`, which must have its error line ("a
 *   person must look") in some instance's output, and which only an order
 *   whose refund was told to fail may end with (the provider refused; a
 *   refund lost with its thread is retried, never given up); and that error
 *   line names no order that ended otherwise (a false alarm);
 * - answers: every final answer to the order (replayed, joined or its own)
 *   is the first one byte for byte — a dependency's unavailable kind while
 *   the nemesis had that dependency out on an instance may be an outage's,
 *   which passes (a retry runs the order again); the record's outcome is that answer;
 *   an outcome recorded `ok` that no client heard, although every request
 *   was answered, disagrees; a final failure the order did not ask for
 *   (no fail_step, no fault) is unexplained;
 * - nothing left running: no order `running` at rest;
 * - accepted now, answered later: an order answered 202 has a record at
 *   rest (it ran on after its answer);
 * - accepted, resumed (durable-check.ts): an order answered 202 ended
 *   within its deadline plus the recovery window; at most one run of an
 *   order holds money; every takeover that resumed a run went on after each
 *   step recorded ok of it, running none of them again;
 * - effects (durable-check.ts): the vendor's and the courier service's books
 *   hold each step recorded ok's effect exactly once for its run, and no
 *   step's effect twice under one run;
 * - canceled: an order that ended canceled holds nothing charged; a cancel
 *   answered `canceled` agrees with the record (never a success recorded
 *   over it), and one answered 409 `order_ended` after a success with a
 *   record of that success.
 * For the events (event-check.ts): every event of a committed change
 * delivered at least once, none delivered that did not commit, one order's
 * events in order, every signature good.
 * For the instances: each answers at rest with nothing running, its
 * courier rows in Postgres are the ones it believes it holds, no courier
 * row is held by a dead identity once every instance wanted couriers, the
 * final probe orders were served, and no instance exited by itself.
 * Sampled through the run: never more couriers busy than COURIERS in two
 * samples running (see courier-monitor.ts for why two), except a paused
 * holder's overlap, which leases allow and which is reported apart, with its
 * duration (courier-check.ts).
 */
import { readAnswer, type Reading } from './answers.js';
import { checkCourierSamples, type CourierFindings } from './courier-check.js';
import { DEPENDENCIES } from '../../src/domain/dependencies.js';
import type { Attempt, CancelAttempt, DependencyOutage, History, OrderBody } from './history.js';
import { checkEvents, type CommittedEvent } from './event-check.js';
import type { ReceivedDelivery } from './event-receiver.js';
import type { Health } from './instances.js';
import {
  checkAcceptedInTime,
  checkChargedOnce,
  checkEffectsOnce,
  checkStepsOnce,
  type DurableLimits,
  type OrderBooks,
  type Takeover,
} from './durable-check.js';

export interface Money {
  readonly charged: number;
  readonly refunded: number;
}

/** GET /orders/{id}'s answer. */
export interface RecordedOrder {
  readonly found: true;
  readonly state: 'running' | 'done';
  readonly outcome: { readonly http_status: number; readonly kind: string } | null;
  readonly runs: number;
  readonly payment: Money;
}

/** An order at rest: GET /orders/{id}, or for a 404 the provider's rows in Postgres, or why neither could be read. */
export type FinalOrder =
  | RecordedOrder
  | { readonly found: false; readonly payment: Money }
  | { readonly found: 'unreadable'; readonly why: string };

export interface InstanceAtRest {
  readonly name: string;
  /** Its /healthz at rest; undefined if it did not answer. */
  readonly health: Health | undefined;
  /** courier_slots rows Postgres has under its current identity. */
  readonly rowsHeld: number;
}

export interface Observations {
  readonly couriers: number;
  readonly orders: ReadonlyMap<string, FinalOrder>;
  readonly instances: readonly InstanceAtRest[];
  /**
   * courier_slots rows whose holder's lease has expired (or whose holder is gone), after every instance wanted
   * couriers.
   */
  readonly rowsOfDeadIdentities: readonly number[];
  /** Orders named by an error line "a person must look" in some instance's output. */
  readonly alarmed: ReadonlySet<string>;
  /** Why the instances could not all be brought back to serve, if they could not. */
  readonly healFailure: string | undefined;
  /** The rows of `events` at rest, and what the webhook receiver got; undefined when the run had no receiver. */
  readonly events?: {
    readonly committed: readonly CommittedEvent[];
    readonly received: readonly ReceivedDelivery[];
  };
  /** What Postgres holds of each order's runs, and the takeovers that resumed runs; undefined when not read. */
  readonly durable?: {
    readonly books: ReadonlyMap<string, OrderBooks>;
    readonly takeovers: readonly Takeover[];
  };
}

export const VIOLATION_KINDS = [
  'ok_without_its_money',
  'money_without_ok',
  'outcome_disagrees',
  'replay_differs',
  'compensation_failed_unlogged',
  'compensation_failed_without_refusal',
  'false_alarm',
  'unexplained_failure',
  'left_running',
  'accepted_lost',
  'accepted_overdue',
  'charged_twice',
  'step_applied_twice',
  'effect_missing',
  'effect_applied_twice',
  'cancel_left_money',
  'cancel_disagrees',
  'couriers_over_capacity',
  'courier_held_by_dead_identity',
  'courier_rows_disagree',
  'not_serving',
  'instance_crashed',
  'order_unreadable',
  'event_not_delivered',
  'event_without_commit',
  'events_out_of_order',
  'event_signature_invalid',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violation {
  readonly kind: ViolationKind;
  readonly message: string;
  readonly orderId?: string;
  readonly instance?: string;
  readonly atMs?: number;
}

export type CheckedHistory = Pick<
  History,
  'instances' | 'orders' | 'attempts' | 'exits' | 'timeline' | 'courierSamples'
> &
  Partial<Pick<History, 'cancels' | 'outages'>>;

export interface Limits extends DurableLimits {
  /**
   * How soon after its SIGCONT a holder paused past its lease must have let go of the couriers it still lent
   * (courier-check.ts).
   */
  readonly pausedHolderBoundMs: number;
}

const EXPECTED_FAILURE: Readonly<Record<string, string>> = {
  payment: 'payment_declined',
  vendor: 'vendor_unavailable',
  courier: 'no_courier',
};

/** Each dependency's unavailable kind, by its name. */
const UNAVAILABLE_OF: ReadonlyMap<string, string> = new Map(DEPENDENCIES.map((d) => [d.name, d.unavailable]));

/**
 * The unavailable kinds an outage may have answered the order with: those of the dependencies the nemesis had out on
 * some instance while the order could run — from its first request to its last answer, or for good once it was
 * accepted (it ran on after its 202).
 */
function outageKinds(outages: readonly DependencyOutage[], attempts: readonly Attempt[]): ReadonlySet<string> {
  if (outages.length === 0 || attempts.length === 0) return new Set();
  const from = Math.min(...attempts.map((attempt) => attempt.sentMs));
  const accepted = attempts.some((attempt) => readAnswer(attempt.end)?.kind === 'accepted');
  const to = accepted ? Infinity : Math.max(...attempts.map((attempt) => attempt.endedMs));
  return new Set(
    outages
      .filter((outage) => outage.fromMs <= to && (outage.toMs ?? Infinity) >= from)
      .map((outage) => UNAVAILABLE_OF.get(outage.dependency) ?? outage.dependency),
  );
}

const net = ({ charged, refunded }: Money): number => charged - refunded;
const money = (payment: Money): string => `charged ${payment.charged}, refunded ${payment.refunded}`;

function byOrder<T extends { readonly orderId: string }>(items: readonly T[]): Map<string, T[]> {
  const byId = new Map<string, T[]>();
  for (const item of items) {
    let list = byId.get(item.orderId);
    if (!list) byId.set(item.orderId, (list = []));
    list.push(item);
  }
  return byId;
}

/**
 * Final failures this order may end with, given what it asked for (and whether a client canceled it); undefined: any
 * (a fault may end it any way).
 */
function explainedFailures(body: OrderBody, canceled: boolean): ReadonlySet<string> | undefined {
  if (body.faults && Object.keys(body.faults).length > 0) return undefined;
  const kinds = new Set<string>(canceled ? ['canceled'] : []);
  if (body.fail_step) kinds.add(EXPECTED_FAILURE[body.fail_step]!);
  if (body.fail_step && body.fail_compensation) kinds.add('compensation_failed');
  return kinds;
}

function checkOrder(
  body: OrderBody,
  attempts: readonly Attempt[],
  cancels: readonly CancelAttempt[],
  final: FinalOrder | undefined,
  alarmed: boolean,
  say: (violation: Omit<Violation, 'orderId'>) => void,
  outages: readonly DependencyOutage[] = [],
): void {
  const byOutage = outageKinds(outages, attempts);
  const answered = attempts.flatMap((attempt) => {
    const read = readAnswer(attempt.end);
    if (!read) return [];
    // An outage's failure passes, as the service's rule says (isFinal) — even of a step the order asked to fail, when
    // the outage refused its call before it could: its answer does not say which.
    const reading = read.final && byOutage.has(read.kind) ? { ...read, final: false } : read;
    return [{ attempt, reading }];
  });
  const finals = answered.filter(({ reading }) => reading.final).sort((a, b) => a.attempt.endedMs - b.attempt.endedMs);
  const first = finals[0];
  for (const other of finals.slice(1)) {
    if (
      other.attempt.end.kind === 'answered' &&
      first!.attempt.end.kind === 'answered' &&
      other.attempt.end.body !== first!.attempt.end.body
    ) {
      say({
        kind: 'replay_differs',
        atMs: other.attempt.endedMs,
        message: `answered ${describe(other.reading)} on ${other.attempt.instance}, but first ${describe(first!.reading)} on ${first!.attempt.instance}, or the same with another body`,
      });
    }
  }

  const explained = explainedFailures(body, cancels.length > 0);
  for (const { attempt, reading } of answered) {
    const refused = !reading.outcome && reading.status < 500 && reading.kind !== 'accepted';
    // A compensation_failed nobody asked for has its own class (compensation_failed_without_refusal).
    const unasked =
      reading.final &&
      reading.kind !== 'ok' &&
      reading.kind !== 'compensation_failed' &&
      explained !== undefined &&
      !explained.has(reading.kind);
    if (refused || unasked)
      say({
        kind: 'unexplained_failure',
        atMs: attempt.endedMs,
        message: `answered ${describe(reading)} on ${attempt.instance}, which the order did not ask for`,
      });
  }

  if (final === undefined || final.found === 'unreadable') {
    say({
      kind: 'order_unreadable',
      message: `its state could not be read at rest: ${final === undefined ? 'not asked' : final.why}`,
    });
    return;
  }
  const toldOk = answered.some(({ reading }) => reading.kind === 'ok');
  // compensation_failed is final: an order alarmed for and not recorded so had its money back in the end (defect 5's
  // false alarm). dead_lettered is parked for a person's redrive, its alarm line by design.
  const recordedKind = final.found === true ? final.outcome?.kind : 'no record';
  const alarmedFor = recordedKind === 'compensation_failed' || recordedKind === 'dead_lettered';
  if (alarmed && !alarmedFor && (final.found === false || final.state === 'done')) {
    say({
      kind: 'false_alarm',
      message: `an error line says a person must look, but the order ended ${recordedKind} (${money(final.payment)})`,
    });
  }
  if (final.found === false) {
    if (answered.some(({ reading }) => reading.kind === 'accepted'))
      say({ kind: 'accepted_lost', message: 'answered 202 accepted, yet the service has no record of the order' });
    if (first)
      say({
        kind: 'outcome_disagrees',
        message: `answered ${describe(first.reading)}, yet the service has no record of the order`,
      });
    if (net(final.payment) !== 0)
      say({
        kind: 'money_without_ok',
        message: `no record of the order, yet the provider holds ${net(final.payment)} (${money(final.payment)})`,
      });
    return;
  }

  if (final.state === 'running') {
    // Its money is not settled yet: that it is still running is the violation.
    say({ kind: 'left_running', message: `still running at rest (runs ${final.runs}, ${money(final.payment)})` });
    return;
  }
  const kind = final.outcome?.kind;
  const recordedOk = kind === 'ok';
  if ((toldOk || recordedOk) && net(final.payment) !== body.amount) {
    say({
      kind: 'ok_without_its_money',
      message: `${toldOk ? 'answered 200' : 'recorded ok'} for amount ${body.amount}, but ${money(final.payment)} (net ${net(final.payment)}); outcome on record: ${kind ?? 'none'}`,
    });
  }
  checkCancels(cancels, kind, final.payment, say);
  if (!toldOk && !recordedOk && kind !== 'compensation_failed' && kind !== 'canceled' && net(final.payment) !== 0) {
    say({
      kind: 'money_without_ok',
      message: `outcome ${kind ?? 'none'}, never answered 200, yet ${money(final.payment)} (net ${net(final.payment)})`,
    });
  }
  const last = finals[finals.length - 1];
  if (last && kind !== undefined && last.reading.kind !== kind) {
    say({
      kind: 'outcome_disagrees',
      message: `answered ${describe(last.reading)} (final), but the record says ${kind} (${final.outcome?.http_status})`,
    });
  }
  const everyRequestAnswered = attempts.length > 0 && attempts.every((attempt) => attempt.end.kind === 'answered');
  // An answer that said the outcome is unknown (the store went away while it was being recorded) may turn out either
  // way.
  const toldUnknown = answered.some(({ reading }) => reading.kind === 'outcome_unknown');
  // Nor does an order accepted now: its client hears the end later, through its events.
  const toldAccepted = answered.some(({ reading }) => reading.kind === 'accepted');
  if (recordedOk && !toldOk && everyRequestAnswered && !toldUnknown && !toldAccepted) {
    say({
      kind: 'outcome_disagrees',
      message: `recorded ok, but every request was answered and none with 200: ${answered.map(({ reading }) => describe(reading)).join(', ')}`,
    });
  }
  const compensationFailed =
    kind === 'compensation_failed' || answered.some(({ reading }) => reading.kind === 'compensation_failed');
  if (compensationFailed && !alarmed)
    say({
      kind: 'compensation_failed_unlogged',
      message: 'compensation_failed, but no instance wrote an error line naming the order',
    });
  if (compensationFailed && !body.fail_compensation && !body.faults?.refund) {
    say({
      kind: 'compensation_failed_without_refusal',
      message: `compensation_failed, although the provider was never told to refuse its refund (now ${money(final.payment)})`,
    });
  }
}

/** A canceled order holds nothing charged, and every cancel's answer agrees with the order's record. */
function checkCancels(
  cancels: readonly CancelAttempt[],
  kind: string | undefined,
  payment: Money,
  say: (violation: Omit<Violation, 'orderId'>) => void,
): void {
  if (kind === 'canceled' && net(payment) !== 0)
    say({ kind: 'cancel_left_money', message: `ended canceled, yet ${money(payment)} (net ${net(payment)})` });
  for (const cancel of cancels) {
    if (cancel.end.kind !== 'answered') continue;
    const { status, body } = cancel.end;
    const told = (JSON.parse(body) as { lifecycle?: string }).lifecycle;
    const disagrees =
      ((status === 200 || status === 202) && told === 'canceled' && kind !== 'canceled') ||
      // A success is final: an order a cancel found succeeded ends so, whatever came after.
      (status === 409 && told === 'succeeded' && kind !== 'ok');
    if (disagrees)
      say({
        kind: 'cancel_disagrees',
        atMs: cancel.endedMs,
        message: `a cancel on ${cancel.instance} was answered ${status} (${told ?? 'no lifecycle'}), but the record says ${kind ?? 'nothing'}`,
      });
  }
}

function describe(reading: Reading): string {
  return `${reading.status} ${reading.kind}`;
}

function checkInstances(
  observed: Observations,
  attempts: readonly Attempt[],
  say: (violation: Violation) => void,
): void {
  if (observed.healFailure) say({ kind: 'not_serving', message: observed.healFailure });
  for (const { name, health, rowsHeld } of observed.instances) {
    if (!health) {
      say({ kind: 'not_serving', instance: name, message: `${name} did not answer /healthz at rest` });
      continue;
    }
    const running = {
      running_steps: health.running_steps,
      orders_in_flight: health.orders_in_flight,
      orders_running: health.durable?.orders_running ?? 0,
    };
    if (Object.values(running).some((n) => n > 0))
      say({ kind: 'left_running', instance: name, message: `${name} at rest: ${JSON.stringify(running)}` });
    if (health.durable && health.durable.couriers_held !== rowsHeld) {
      say({
        kind: 'courier_rows_disagree',
        instance: name,
        message: `${name} believes it holds ${health.durable.couriers_held} courier rows; Postgres has ${rowsHeld} under its identity ${health.durable.instance_id ?? '(none)'}`,
      });
    }
  }
  if (observed.rowsOfDeadIdentities.length > 0) {
    say({
      kind: 'courier_held_by_dead_identity',
      message: `courier slots ${observed.rowsOfDeadIdentities.join(', ')} still held by identities whose lease has expired, after every instance wanted couriers`,
    });
  }
  for (const attempt of attempts) {
    if (attempt.why !== 'probe') continue;
    const reading = readAnswer(attempt.end);
    if (reading?.kind !== 'ok') {
      say({
        kind: 'not_serving',
        instance: attempt.instance,
        orderId: attempt.orderId,
        atMs: attempt.endedMs,
        message: `probe order on ${attempt.instance}: ${reading ? describe(reading) : attempt.end.kind}`,
      });
    }
  }
}

/** The courier samples, explained: excesses that are violations, and paused holders' overlaps. */
export function courierFindings(history: CheckedHistory, couriers: number, limits: Limits): CourierFindings {
  return checkCourierSamples(
    history.courierSamples,
    couriers,
    history.instances,
    history.timeline,
    limits.pausedHolderBoundMs,
  );
}

export function check(history: CheckedHistory, observed: Observations, limits: Limits): Violation[] {
  const violations: Violation[] = [];
  const say = (violation: Violation): number => violations.push(violation);
  const byId = byOrder(history.attempts);
  const cancelsById = byOrder(history.cancels ?? []);
  const takeoversById = byOrder(observed.durable?.takeovers ?? []);
  for (const body of history.orders) {
    const orderId = body.order_id;
    checkOrder(
      body,
      byId.get(orderId) ?? [],
      cancelsById.get(orderId) ?? [],
      observed.orders.get(orderId),
      observed.alarmed.has(orderId),
      (violation) => say({ ...violation, orderId }),
      history.outages,
    );
    const books = observed.durable?.books.get(orderId);
    const final = observed.orders.get(orderId);
    const recordedOk = final?.found === true && final.state === 'done' && final.outcome?.kind === 'ok';
    if (books)
      for (const finding of [
        ...checkAcceptedInTime(body, byId.get(orderId) ?? [], books, limits),
        ...checkChargedOnce(body, books),
        ...checkStepsOnce(books, takeoversById.get(orderId) ?? []),
        ...checkEffectsOnce(books, recordedOk),
      ])
        say({ ...finding, orderId });
  }
  checkInstances(observed, history.attempts, say);
  if (observed.events)
    for (const finding of checkEvents(observed.events.committed, observed.events.received)) say(finding);
  for (const { atMs, message } of courierFindings(history, observed.couriers, limits).overCapacity)
    say({ kind: 'couriers_over_capacity', atMs, message });
  for (const exit of history.exits) {
    if (!exit.expected)
      say({
        kind: 'instance_crashed',
        instance: exit.instance,
        atMs: exit.atMs,
        message: `${exit.instance} (pid ${exit.pid}) exited by itself: ${exit.signal ?? `code ${exit.code}`}\n${exit.tail}`,
      });
  }
  return violations.sort(
    (a, b) => VIOLATION_KINDS.indexOf(a.kind) - VIOLATION_KINDS.indexOf(b.kind) || (a.atMs ?? 0) - (b.atMs ?? 0),
  );
}
