/**
 * The books of the services steps act on, as the engine sees them when the service warms up: scratch ones while the
 * warm-up's orders run, the real ones from `open()` on — for the reason, and at the moment, the provider's books
 * switch (ledger-after-warm-up.ts), so no effect of a warm-up order reaches the real books.
 */
import type { OrderKey } from '../domain/order.js';
import type {
  EffectAnswer,
  EffectCaller,
  EffectCounts,
  EffectKey,
  ReceivedEffect,
  ServiceBooks,
} from '../ledger/service-books.js';

export class ServicesAfterWarmUp implements ServiceBooks {
  private current: ServiceBooks;

  constructor(
    private readonly real: ServiceBooks,
    scratch: ServiceBooks,
  ) {
    this.current = scratch;
  }

  /** From now on every request goes to the real books. */
  open(): void {
    this.current = this.real;
  }

  request(key: EffectKey, caller: EffectCaller): Promise<EffectAnswer> {
    return this.current.request(key, caller);
  }

  receivedFor(order: OrderKey): Promise<readonly ReceivedEffect[]> {
    return this.current.receivedFor(order);
  }

  /** The real books' counts, always. */
  counts(): EffectCounts {
    return this.real.counts();
  }
}
