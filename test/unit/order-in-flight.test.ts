/**
 * An order's record as the signal its steps run under (src/pipeline/order-in-flight.ts): it aborts as an
 * AbortSignal does — each listener told once, in the order added, with the order as `this`; one removed, or added
 * after, is never told — at its first failure (the pipeline aborts it), its deadline or its run's stop, and it is no
 * EventTarget. Its steps' ends are the pipeline's (test/unit/order-pipeline.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { CancelSignal } from '../../src/domain/cancel-signal.js';
import { OrderAborted } from '../../src/domain/errors.js';
import { DeadlineList } from '../../src/pipeline/deadline-list.js';
import { OrderInFlight, type RunStopper, type StopFollower } from '../../src/pipeline/order-in-flight.js';

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

function anOrder() {
  const stopper = new Stopper();
  const deadlines = new DeadlineList<OrderInFlight>();
  const order = new OrderInFlight(stopper, deadlines, performance.now() + 60_000);
  return { order, stopper, deadlines };
}

describe('an order in flight, as its steps signal', () => {
  it('tells each listener once, in the order added, with itself as `this`; a removed one, or one added after, never', () => {
    const { order } = anOrder();
    const told: string[] = [];
    const signal: CancelSignal = order;
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

    order.abort(new OrderAborted('payment_declined'));
    expect(told).toEqual(['second', 'third', 'first']);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toEqual(new OrderAborted('payment_declined'));

    order.abort(new OrderAborted('vendor_unavailable'));
    signal.addEventListener('abort', listener('late'));
    expect(told).toEqual(['second', 'third', 'first']);
    // The first failure stays the reason.
    expect(order.reason).toEqual(new OrderAborted('payment_declined'));
  });

  it('does not tell a listener that one told before it removed, as an EventTarget would not', () => {
    const { order } = anOrder();
    const told: string[] = [];
    const second = (): void => void told.push('second');
    order.addEventListener('abort', () => {
      told.push('first');
      order.removeEventListener('abort', second);
    });
    order.addEventListener('abort', second);
    order.addEventListener('abort', () => void told.push('third'));
    order.abort(new OrderAborted('payment_declined'));
    expect(told).toEqual(['first', 'third']);
  });

  it('aborts when its run is stopped; released, it follows its run no more and its deadline is gone', () => {
    const { order, stopper, deadlines } = anOrder();
    const told: unknown[] = [];
    order.addEventListener('abort', function (this: CancelSignal) {
      told.push(this.reason);
    });
    stopper.stop(new OrderAborted('client_gone'));
    expect(told).toEqual([new OrderAborted('client_gone')]);
    order.release();
    expect(deadlines.size).toBe(0);
    const later = anOrder();
    later.order.release();
    later.stopper.stop(new OrderAborted('client_gone'));
    expect(later.order.aborted).toBe(false);
  });

  it('is no EventTarget: the order holds no AbortController or signal of its own', () => {
    const { order } = anOrder();
    expect(order instanceof EventTarget).toBe(false);
    expect(Object.values(order).some((value) => value instanceof AbortController || value instanceof AbortSignal)).toBe(
      false,
    );
  });
});
