/**
 * The provider's books as the engine sees them when the service warms up
 * before it serves: a scratch book while the warm-up's orders run, the real
 * one from `open()` on, for good. The engine is built once, around one
 * ledger, and its threads are what the warm-up is for; so the warm-up's
 * charges and voids need a book of their own, and this is the one place that
 * decides which.
 *
 * `open()` is called once nothing of the warm-up runs (the service checks
 * the engine at rest first), so no request of a warm-up order can reach the
 * real books, and no real order's the scratch one.
 */
import type { OrderKey } from '../domain/order.js';
import type {
  ChargeAnswer,
  LedgerCounts,
  Money,
  PaymentKey,
  PaymentLedger,
  VoidAnswer,
} from '../ledger/payment-ledger.js';

export class LedgerAfterWarmUp implements PaymentLedger {
  private current: PaymentLedger;

  constructor(
    private readonly real: PaymentLedger,
    scratch: PaymentLedger,
  ) {
    this.current = scratch;
  }

  /** From now on every request goes to the real books. */
  open(): void {
    this.current = this.real;
  }

  get isOpen(): boolean {
    return this.current === this.real;
  }

  charge(key: PaymentKey, amount: number, decline: boolean): Promise<ChargeAnswer> {
    return this.current.charge(key, amount, decline);
  }

  void(key: PaymentKey, refuse: boolean): Promise<VoidAnswer> {
    return this.current.void(key, refuse);
  }

  moneyOfRun(key: PaymentKey): Promise<Money> {
    return this.current.moneyOfRun(key);
  }

  moneyOf(order: OrderKey): Promise<Money | undefined> {
    return this.current.moneyOf(order);
  }

  /** The real books' counts, always: the warm-up's are no one's business. */
  counts(): LedgerCounts {
    return this.real.counts();
  }
}
