/**
 * Orders that are safe to retry, keyed by order_id. A retry with the same
 * order while the first still runs joins it — one execution, every caller
 * gets its outcome (singleflight) — and once it has ended, a retry within
 * the store's time to live gets the recorded outcome again, without running
 * anything. The same order_id with a different order is refused.
 *
 * Only final outcomes are recorded. An order that timed out, was shed, was
 * turned away at shutdown, or whose every caller went away left nothing
 * standing — its steps were canceled and its payment refunded — so a retry
 * runs it afresh instead of being told the same passing failure again.
 */
import { createHash } from 'node:crypto';
import { OrderAborted, type OrderFailureKind } from '../domain/errors.js';
import { ACTION_NAMES, STEP_NAMES, type Order } from '../domain/order.js';
import type { Trace } from '../domain/trace.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';
import type { IdempotencyStore } from './idempotency-store.js';

/** Failures a retry may well not meet: not recorded, so a retry runs again. */
const PASSING_FAILURES: ReadonlySet<OrderFailureKind> = new Set(['timeout', 'client_gone', 'shutting_down', 'overloaded']);

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
  ]);
  return createHash('sha256').update(canonical).digest('base64url');
}

export type Submission =
  /** `ran`: this call started it; `joined`: it joined a run already under way; `replayed`: recorded earlier. */
  | { readonly kind: 'answered'; readonly result: OrderResult; readonly via: 'ran' | 'joined' | 'replayed' }
  /** The order_id belongs to a different order. */
  | { readonly kind: 'reused' }
  /** No room for a new run (the admission check said no). */
  | { readonly kind: 'shed' };

export interface OrderRunner {
  process(order: Order, signal: AbortSignal, trace: Trace): Promise<OrderResult>;
}

interface Run {
  readonly fingerprint: string;
  readonly result: Promise<OrderResult>;
  /** Cancels the run once every caller waiting for it has gone. */
  readonly stop: AbortController;
  callers: number;
}

export class IdempotentOrders {
  /** Runs under way, by order_id. */
  private readonly running = new Map<string, Run>();

  constructor(
    private readonly orders: OrderRunner,
    private readonly store: IdempotencyStore,
  ) {}

  /**
   * Answer `order` for a caller whose going away is `signal`. `admit` is
   * asked only when a new run must start, right before it starts.
   */
  async submit(order: Order, signal: AbortSignal, trace: Trace, admit: () => boolean): Promise<Submission> {
    const fingerprint = fingerprintOf(order);
    const underWay = this.running.get(order.orderId);
    if (underWay) return underWay.fingerprint === fingerprint ? this.wait(underWay, signal, 'joined') : { kind: 'reused' };

    const recorded = await this.store.get(order.orderId);
    // While the store answered, another caller may have started the order.
    const startedMeanwhile = this.running.get(order.orderId);
    if (startedMeanwhile) return startedMeanwhile.fingerprint === fingerprint ? this.wait(startedMeanwhile, signal, 'joined') : { kind: 'reused' };
    if (recorded) return recorded.fingerprint === fingerprint ? { kind: 'answered', result: recorded.result, via: 'replayed' } : { kind: 'reused' };

    if (!admit()) return { kind: 'shed' };
    return this.wait(this.start(order, fingerprint, trace), signal, 'ran');
  }

  private start(order: Order, fingerprint: string, trace: Trace): Run {
    const stop = new AbortController();
    const result = this.orders
      .process(order, stop.signal, trace)
      .then(async (outcome) => {
        // Recorded before the run is forgotten: a retry finds one or the other, never neither.
        if (isFinal(outcome)) await this.store.put(order.orderId, { fingerprint, result: outcome });
        return outcome;
      })
      .finally(() => this.running.delete(order.orderId));
    const run: Run = { fingerprint, result, stop, callers: 0 };
    this.running.set(order.orderId, run);
    return run;
  }

  private async wait(run: Run, signal: AbortSignal, via: 'ran' | 'joined'): Promise<Submission> {
    run.callers++;
    const leave = (): void => {
      if (--run.callers === 0) run.stop.abort(new OrderAborted('client_gone'));
    };
    if (signal.aborted) leave();
    else signal.addEventListener('abort', leave, { once: true });
    try {
      return { kind: 'answered', result: await run.result, via };
    } finally {
      signal.removeEventListener('abort', leave);
    }
  }
}
