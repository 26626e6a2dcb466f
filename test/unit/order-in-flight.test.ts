/**
 * An order's record as the signal its steps run under (src/pipeline/order-in-flight.ts): it aborts as an
 * AbortSignal does — each listener told once, in the order added, with the order as `this`; one removed, or added
 * after, is never told — at its first failure, its deadline or its run's stop, and it is no EventTarget.
 */
import { describe, expect, it } from 'vitest';
import type { CancelSignal } from '../../src/domain/cancel-signal.js';
import { OrderAborted, type StepFailureKind } from '../../src/domain/errors.js';
import { DeadlineList } from '../../src/pipeline/deadline-list.js';
import { OrderInFlight, type RunStopper, type StopFollower } from '../../src/pipeline/order-in-flight.js';
import type { StepOutcome } from '../../src/pipeline/steps.js';
import { instantRun } from '../support/orders.js';

const run = instantRun('c');

/** A run's stopper, stopped by hand. */
class Stopper implements RunStopper {
  stopped = false;
  reason: unknown = undefined;
  private follower: StopFollower | undefined;
  follow(follower: StopFollower | undefined): void {
    this.follower = follower;
    if (follower && this.stopped) follower.parentStopped(this.reason);
  }
  stop(reason: unknown): void {
    this.stopped = true;
    this.reason = reason;
    this.follower?.parentStopped(reason);
  }
}

/** A step's outcome as its runner reports it: failed with `kind`, or canceled. */
const failed = (name: StepOutcome['name'], kind: StepFailureKind): StepOutcome => ({
  name,
  status: 'error',
  kind,
  durationMs: 1,
  attempts: 1,
  threadId: 1,
});
const canceled = (name: StepOutcome['name']): StepOutcome => ({
  name,
  status: 'canceled',
  durationMs: 1,
  attempts: 1,
  threadId: 1,
});

function anOrder(steps = 3) {
  const stopper = new Stopper();
  const ended: string[] = [];
  const order = new OrderInFlight<never>(run, { requestId: 'r' }, steps, stopper, new DeadlineList(), {
    stepsEnded: () => ended.push('ended'),
    stepsThrew: () => ended.push('threw'),
  });
  return { order, stopper, ended };
}

describe('an order in flight, as its steps signal', () => {
  it('tells each listener once, in the order added, with itself as `this`; a removed one, or one added after, never', () => {
    const { order } = anOrder();
    const told: string[] = [];
    const signal: CancelSignal = order.signal;
    const listener = (name: string) =>
      function (this: CancelSignal) {
        expect(this).toBe(order);
        told.push(name);
      };
    const [first, second, removed, third] = ['first', 'second', 'removed', 'third'].map(listener);
    signal.addEventListener('abort', first!);
    signal.addEventListener('abort', second!, { once: true });
    signal.addEventListener('abort', removed!);
    signal.addEventListener('abort', third!);
    signal.removeEventListener('abort', removed!);
    signal.removeEventListener('abort', first!);
    signal.addEventListener('abort', first!);

    order.stepEnded(0, failed('payment', 'payment_declined'));
    expect(told).toEqual(['second', 'third', 'first']);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toEqual(new OrderAborted('payment_declined'));

    order.stepEnded(1, failed('vendor', 'vendor_unavailable'));
    signal.addEventListener('abort', listener('late'));
    expect(told).toEqual(['second', 'third', 'first']);
    // The first failure stays the reason.
    expect(order.reason).toEqual(new OrderAborted('payment_declined'));
  });

  it('does not tell a listener that one told before it removed, as an EventTarget would not', () => {
    const { order } = anOrder();
    const told: string[] = [];
    const second = (): void => void told.push('second');
    order.signal.addEventListener('abort', () => {
      told.push('first');
      order.signal.removeEventListener('abort', second);
    });
    order.signal.addEventListener('abort', second);
    order.signal.addEventListener('abort', () => void told.push('third'));
    order.stepEnded(0, failed('payment', 'payment_declined'));
    expect(told).toEqual(['first', 'third']);
  });

  it('aborts when its run is stopped, and ends only when every step has, not at the first failure', () => {
    const { order, stopper, ended } = anOrder(2);
    const told: unknown[] = [];
    order.signal.addEventListener('abort', function (this: CancelSignal) {
      told.push(this.reason);
    });
    stopper.stop(new OrderAborted('client_gone'));
    expect(told).toEqual([new OrderAborted('client_gone')]);
    order.stepEnded(0, canceled('payment'));
    expect(ended).toEqual([]);
    order.stepEnded(1, canceled('vendor'));
    expect(ended).toEqual(['ended']);
  });

  it('is no EventTarget: the order holds no AbortController or signal of its own', () => {
    const { order } = anOrder();
    expect(order.signal).toBe(order);
    expect(order.signal instanceof EventTarget).toBe(false);
    expect(Object.values(order).some((value) => value instanceof AbortController || value instanceof AbortSignal)).toBe(
      false,
    );
  });
});
