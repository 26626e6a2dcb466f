/**
 * What a chaos run did and saw, as plain data: every order the clients
 * meant to send, every request and how it ended, what the nemesis and the
 * supervisor did to which process, and the courier samples. The checker reads
 * only this (and the final observations), so it can be tested on tiny
 * histories written by hand; history.json in the run's folder is this object.
 *
 * Times are milliseconds since the run began, on the harness's monotonic clock.
 */
import type { Fault } from '../../src/domain/faults.js';
import type { ActionName, StepName } from '../../src/domain/order.js';

export type InstanceName = string;

/** A POST /order body as the clients send it. */
export interface OrderBody {
  readonly order_id: string;
  readonly amount: number;
  readonly delay_ms: Readonly<Record<ActionName, number>>;
  readonly cpu_ms?: Readonly<Partial<Record<StepName, number>>>;
  readonly fail_step?: StepName;
  readonly fail_compensation?: boolean;
  readonly faults?: Readonly<Partial<Record<ActionName, Fault>>>;
  readonly deadline_ms?: number;
}

/** Why a request was sent. */
export type Why =
  | 'first'
  | 'duplicate'
  | 'retry_after_hang_up'
  | 'retry_after_timeout'
  | 'retry_after_error'
  | 'retry_after_not_final'
  | 'fault_burst'
  | 'probe'
  /** An order sent at rest to close a breaker an outage opened, before the probe. */
  | 'breaker_probe';

export type AttemptEnd =
  /** The service answered (status and body as received). */
  | { readonly kind: 'answered'; readonly status: number; readonly body: string; readonly replayed: boolean }
  /** The client hung up on purpose, mid-order. */
  | { readonly kind: 'hung_up' }
  /** The client gave up waiting and hung up. */
  | { readonly kind: 'timed_out' }
  /** No answer: refused, reset, closed (the instance was down or died). */
  | { readonly kind: 'failed'; readonly error: string };

export interface Attempt {
  readonly orderId: string;
  readonly why: Why;
  readonly instance: InstanceName;
  /** The instance's process when the request was sent (undefined: none), and what the nemesis had left of it. */
  readonly pid: number | undefined;
  readonly state: 'up' | 'paused' | 'starting' | 'down';
  readonly sentMs: number;
  readonly endedMs: number;
  readonly end: AttemptEnd;
}

/** A POST /orders/{id}/cancel a client sent, and how it ended. */
export interface CancelAttempt {
  readonly orderId: string;
  readonly instance: InstanceName;
  readonly sentMs: number;
  readonly endedMs: number;
  readonly end: AttemptEnd;
}

/** What the nemesis or the supervisor did, or what the harness saw happen to a process. */
export interface TimelineEntry {
  readonly atMs: number;
  readonly actor: 'nemesis' | 'supervisor' | 'harness';
  readonly what: string;
}

export interface InstanceExit {
  readonly instance: InstanceName;
  readonly pid: number;
  readonly atMs: number;
  readonly code: number | null;
  readonly signal: string | null;
  /** Whether the nemesis killed it (SIGKILL), or the harness stopped it at the end. */
  readonly expected: boolean;
  /** The last lines of its output, for an exit nobody asked for. */
  readonly tail: string;
}

/** courier_slots rows held by one identity, as Postgres had them. */
export interface CourierHolder {
  /** The identity's first 8 hex digits, as the timeline names it. */
  readonly holder: string;
  readonly rows: number;
  /** Whether its lease held then. */
  readonly live: boolean;
}

/**
 * Who lends what, every sample: each instance's busy couriers (slots its
 * steps hold), the rows it believes it holds and its identity, all from one
 * /healthz (null: it did not answer in time); and the courier_slots rows as
 * Postgres had them then, per holder.
 */
export interface CourierSample {
  readonly atMs: number;
  readonly busy: ReadonlyArray<number | null>;
  /** Rows each instance believes it holds (`durable.couriers_held`). */
  readonly held?: ReadonlyArray<number | null>;
  /** Each instance's identity (first 8 hex digits); null: none (given up) or no answer. */
  readonly identities?: ReadonlyArray<string | null>;
  /** Rows held by a live identity / by an identity whose lease has expired; null when Postgres did not answer. */
  readonly rows: { readonly live: number; readonly dead: number; readonly free: number } | null;
  /** The held rows per holder; null when Postgres did not answer. */
  readonly holders?: readonly CourierHolder[] | null;
}

/** A dependency's outage the nemesis switched on one instance (POST /admin/dependencies/{name}), and when it ended. */
export interface DependencyOutage {
  readonly dependency: string;
  readonly instance: InstanceName;
  readonly fromMs: number;
  /** When it was switched off, or the instance lost it (undefined: on until the end). */
  readonly toMs?: number;
}

export interface History {
  readonly seed: number;
  readonly startedAt: string;
  readonly settings: Readonly<Record<string, string | number>>;
  readonly instances: readonly InstanceName[];
  readonly orders: OrderBody[];
  readonly attempts: Attempt[];
  /** The cancels the clients sent (none in a run that sends none). */
  readonly cancels: CancelAttempt[];
  readonly timeline: TimelineEntry[];
  readonly exits: InstanceExit[];
  readonly courierSamples: CourierSample[];
  /** The dependency outages the nemesis switched (none in a run that switches none). */
  readonly outages: DependencyOutage[];
}

/** The history being written while the run goes on. */
export class Recorder {
  private readonly t0 = performance.now();
  readonly history: History;

  constructor(
    seed: number,
    settings: Readonly<Record<string, string | number>>,
    instances: readonly InstanceName[],
    /** Told of each timeline entry as it happens (the harness prints it). */
    private readonly onTimeline: (entry: TimelineEntry) => void,
  ) {
    this.history = {
      seed,
      startedAt: new Date().toISOString(),
      settings,
      instances,
      orders: [],
      attempts: [],
      cancels: [],
      timeline: [],
      exits: [],
      courierSamples: [],
      outages: [],
    };
  }

  /** Milliseconds since the run began, to a tenth. */
  now(): number {
    return Math.round((performance.now() - this.t0) * 10) / 10;
  }

  order(body: OrderBody): void {
    this.history.orders.push(body);
  }

  attempt(attempt: Attempt): void {
    this.history.attempts.push(attempt);
  }

  cancel(cancel: CancelAttempt): void {
    this.history.cancels.push(cancel);
  }

  event(actor: TimelineEntry['actor'], what: string): void {
    const entry = { atMs: this.now(), actor, what };
    this.history.timeline.push(entry);
    this.onTimeline(entry);
  }

  exit(exit: InstanceExit): void {
    this.history.exits.push(exit);
  }

  outage(outage: DependencyOutage): void {
    this.history.outages.push(outage);
  }

  sample(sample: CourierSample): void {
    this.history.courierSamples.push(sample);
  }
}
