/**
 * Orders that are safe to retry, keyed by order_id. A retry with the same
 * order while the first still runs joins it — one execution, every caller
 * gets its outcome (singleflight) — and once it has ended, a retry within the
 * records' time to live gets the recorded outcome again, without running
 * anything. The same order_id with a different order is refused.
 *
 * Only final outcomes are replayed. An order that timed out, was shed, was
 * turned away at shutdown, lost its threads, or whose every caller went away
 * left nothing standing — its steps were canceled and its payment voided — so
 * a retry runs it afresh, as a new run, instead of being told the same passing
 * failure again. A run that every caller has left is being wound down: a
 * caller arriving then waits for it to end and gets a run of its own, never
 * the answer meant for callers who are gone.
 */
import { createHash } from 'node:crypto';
import { OrderAborted, type OrderFailureKind } from '../domain/errors.js';
import { ACTION_NAMES, STEP_NAMES, type Order, type OrderRun } from '../domain/order.js';
import type { Trace } from '../domain/trace.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';
import type { OrderRecords } from './order-records.js';

/** Failures a retry may well not meet: not replayed, so a retry runs again. */
const PASSING_FAILURES: ReadonlySet<OrderFailureKind> = new Set(['timeout', 'client_gone', 'shutting_down', 'overloaded', 'thread_lost']);

export function isFinal(result: OrderResult): boolean {
  return result.failure === undefined || !PASSING_FAILURES.has(result.failure);
}

/** Two bodies that decode to the same order — defaults spelled out or not, keys in any order — match. */
export function fingerprintOf(order: Order): string {
  const canonical = JSON.stringify([
    order.orderId,
    order.amount,
    order.failStep ?? null,
    order.failCompensation,
    ACTION_NAMES.map((name) => order.delayMs[name]),
    STEP_NAMES.map((name) => order.cpuMs[name]),
    ACTION_NAMES.map((name) => order.faults?.[name] ?? null),
  ]);
  return createHash('sha256').update(canonical).digest('base64url');
}

/** Whether a new run may start now: the caller's admission policy. */
export type Admission = 'admitted' | 'overloaded' | 'shutting_down';

export type Submission =
  /** `ran`: this call started it; `joined`: it joined a run already under way; `replayed`: recorded earlier. */
  | { readonly kind: 'answered'; readonly result: OrderResult; readonly via: 'ran' | 'joined' | 'replayed' }
  /** The order_id belongs to a different order. */
  | { readonly kind: 'reused' }
  /** No new run could start: too many in flight, or the service is shutting down. */
  | { readonly kind: 'refused'; readonly because: Exclude<Admission, 'admitted'> };

export interface OrderRunner {
  process(run: OrderRun, signal: AbortSignal, trace: Trace): Promise<OrderResult>;
}

/** Told of every run as it ends, with its result. */
export type RunEnded = (run: OrderRun, result: OrderResult) => void;

type RunEnd = { readonly kind: 'answered'; readonly result: OrderResult; readonly replayed: boolean } | { readonly kind: 'reused' };

interface Run {
  readonly fingerprint: string;
  readonly end: Promise<RunEnd>;
  /** Cancels the run once every caller waiting for it has gone. */
  readonly stop: AbortController;
  callers: number;
}

export class IdempotentOrders {
  /** Runs under way in this process, by order_id. */
  private readonly running = new Map<string, Run>();
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly orders: OrderRunner,
    private readonly records: OrderRecords,
    private readonly runEnded: RunEnded = () => {},
  ) {}

  /** Runs under way, counted from the moment they are admitted. */
  get runsInFlight(): number {
    return this.running.size;
  }

  /**
   * Answer `order` for a caller whose going away is `signal`. `admit` is
   * asked only when a new run must start, right before it starts; nothing is
   * awaited between its answer and the run being counted.
   */
  async submit(order: Order, signal: AbortSignal, trace: Trace, admit: () => Admission): Promise<Submission> {
    const fingerprint = fingerprintOf(order);
    for (;;) {
      const underWay = this.running.get(order.orderId);
      if (underWay) {
        if (underWay.fingerprint !== fingerprint) return { kind: 'reused' };
        if (!underWay.stop.signal.aborted) return this.wait(underWay, signal, 'joined');
        // Every caller of that run has gone: it is winding down (its payment
        // being voided). Wait for it to end, then run afresh.
        await underWay.end;
        continue;
      }
      const record = await this.records.get(order.orderId);
      // While the records answered, another caller may have started the order.
      if (this.running.has(order.orderId)) continue;
      if (record && record.fingerprint !== fingerprint) return { kind: 'reused' };
      const replay = record?.state === 'done' ? record.outcome?.replay : undefined;
      if (replay) return { kind: 'answered', result: replay, via: 'replayed' };
      const admission = admit();
      if (admission !== 'admitted') return { kind: 'refused', because: admission };
      return this.wait(this.start(order, fingerprint, trace), signal, 'ran');
    }
  }

  /** Counted in `running` at once, before anything is awaited. */
  private start(order: Order, fingerprint: string, trace: Trace): Run {
    const stop = new AbortController();
    const end = this.execute(order, fingerprint, stop.signal, trace).finally(() => {
      this.running.delete(order.orderId);
      if (this.running.size === 0) this.wakeIdleWaiters();
    });
    const run: Run = { fingerprint, end, stop, callers: 0 };
    this.running.set(order.orderId, run);
    return run;
  }

  private async execute(order: Order, fingerprint: string, signal: AbortSignal, trace: Trace): Promise<RunEnd> {
    const begun = await this.records.begin(order.orderId, fingerprint);
    if (begun.kind === 'reused') return begun;
    if (begun.kind === 'replay') return { kind: 'answered', result: begun.result, replayed: true };
    const run: OrderRun = { order, run: begun.run };
    const result = await this.orders.process(run, signal, trace);
    // Recorded before the run is forgotten: a retry finds one or the other, never neither.
    await this.records.finish(order.orderId, begun.run, { kind: result.failure ?? 'ok', replay: isFinal(result) ? result : undefined });
    this.runEnded(run, result);
    return { kind: 'answered', result, replayed: false };
  }

  /** Cancel every run under way with `kind` (at shutdown). They still end as usual, with their outcomes. */
  cancelAll(kind: OrderFailureKind): void {
    for (const run of this.running.values()) run.stop.abort(new OrderAborted(kind));
  }

  /** Resolves when no run is under way — compensations included, and runs admitted but not started yet. */
  whenIdle(): Promise<void> {
    if (this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private wakeIdleWaiters(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  private async wait(run: Run, signal: AbortSignal, via: 'ran' | 'joined'): Promise<Submission> {
    run.callers++;
    const leave = (): void => {
      if (--run.callers === 0) run.stop.abort(new OrderAborted('client_gone'));
    };
    if (signal.aborted) leave();
    else signal.addEventListener('abort', leave, { once: true });
    try {
      const end = await run.end;
      if (end.kind === 'reused') return end;
      return { kind: 'answered', result: end.result, via: end.replayed ? 'replayed' : via };
    } finally {
      signal.removeEventListener('abort', leave);
    }
  }
}
