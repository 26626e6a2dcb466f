/**
 * The vendor's and the courier service's books in this process's memory (the default, when there is no database):
 * every request received for an order while it runs, by key. In memory the fence is the run's as begun, for nothing
 * outlives the process to take a run over: what the books meet here is a step run again after its thread was lost,
 * whose second request is a duplicate.
 *
 * Kept while the order's run is under way, and dropped as it is recorded done (`forget`): the pipeline settles every
 * request of a step before the step's outcome (src/threads/effect-gateway.ts), so none of a done run's requests is
 * still to come, and a later run is another key. Their bytes count in the order records' bound while they are kept.
 */
import type { OrderKey } from '../domain/order.js';
import {
  answerTo,
  type EffectAnswer,
  type EffectCaller,
  type EffectCounts,
  type EffectKey,
  type ReceivedEffect,
  type ServiceBooks,
} from './service-books.js';

/** Heap bytes of an order's books while it runs: its list, and a request for each of its two acting steps. */
export const SERVICE_BOOKS_BYTES = 260;

export class MemoryServiceBooks implements ServiceBooks {
  private readonly orders = new Map<OrderKey, ReceivedEffect[]>();
  private readonly tally: Record<EffectAnswer, number> = { applied: 0, duplicate: 0, stale: 0 };

  async request(key: EffectKey, caller: EffectCaller): Promise<EffectAnswer> {
    return this.requestNow(key, caller);
  }

  /** A request, answered at once. */
  requestNow({ order, run, step }: EffectKey, { fence, instance }: EffectCaller): EffectAnswer {
    let received = this.orders.get(order);
    if (!received) this.orders.set(order, (received = []));
    const answer = answerTo(
      fence,
      received.filter((each) => each.run === run && each.step === step),
    );
    received.push({ run, step, fence, instance, answer, at: new Date() });
    this.tally[answer]++;
    return answer;
  }

  async receivedFor(order: OrderKey): Promise<readonly ReceivedEffect[]> {
    return this.orders.get(order) ?? [];
  }

  counts(): EffectCounts {
    return { ...this.tally };
  }

  /** The order's run is done, or its record gone: its books go. */
  forget(order: OrderKey): void {
    this.orders.delete(order);
  }

  /** Orders whose books are kept. */
  ordersKept(): number {
    return this.orders.size;
  }
}
