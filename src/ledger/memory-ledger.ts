/**
 * The payment provider's books in this process's memory (the default, when
 * there is no database). Bounded with the order records: when an order's
 * record goes — past its time to live, never sooner — the provider forgets
 * it too (`forget`), and its bytes (`booksBytesOf`) count in the records'
 * bound.
 */
import type { OrderKey } from '../domain/order.js';
import type { ChargeAnswer, LedgerCounts, Money, PaymentKey, PaymentLedger, VoidAnswer } from './payment-ledger.js';

interface RunEntry {
  charged: number;
  refunded: number;
  /** A void arrived: no charge of this run is taken any more. */
  voided: boolean;
  /** The run paid with the test card: every charge of it is declined. */
  declined: boolean;
}

/**
 * Heap bytes of one order's books, a little over what was measured with
 * --expose-gc over 50,000 orders with 18-character ids (the id itself is the
 * record's): 245 bytes with one run, 301 with two.
 */
const ORDER_BYTES = 200;
const RUN_BYTES = 60;

export function booksBytesOf(runs: number): number {
  return ORDER_BYTES + runs * RUN_BYTES;
}

export class MemoryLedger implements PaymentLedger {
  /** order (its key) → run → its money. */
  private readonly orders = new Map<OrderKey, Map<number, RunEntry>>();
  private readonly tally = { charges: 0, declines: 0, refunds: 0, refusals: 0 };

  async charge({ order, run }: PaymentKey, amount: number, decline: boolean): Promise<ChargeAnswer> {
    const entry = this.entry(order, run);
    if (entry.voided) return 'voided';
    if (entry.charged > 0) return 'charged';
    if (entry.declined) return 'declined';
    if (decline) {
      entry.declined = true;
      this.tally.declines++;
      return 'declined';
    }
    entry.charged = amount;
    this.tally.charges++;
    return 'charged';
  }

  /** `onVoided`: told of each void's answer in the same turn as the books change (the outbox's refund events). */
  constructor(private readonly onVoided: (key: PaymentKey, answer: VoidAnswer) => void = () => {}) {}

  async void(key: PaymentKey, refuse: boolean): Promise<VoidAnswer> {
    const answer = this.voidNow(key, refuse);
    this.onVoided(key, answer);
    return answer;
  }

  private voidNow({ order, run }: PaymentKey, refuse: boolean): VoidAnswer {
    const entry = this.entry(order, run);
    entry.voided = true;
    const outstanding = entry.charged - entry.refunded;
    if (outstanding === 0) return 'nothing_to_refund';
    if (refuse) {
      this.tally.refusals++;
      return 'refused';
    }
    entry.refunded += outstanding;
    this.tally.refunds++;
    return 'refunded';
  }

  async moneyOfRun(key: PaymentKey): Promise<Money> {
    return this.moneyOfRunNow(key);
  }

  /** Money of one run, read at once. */
  moneyOfRunNow({ order, run }: PaymentKey): Money {
    const entry = this.orders.get(order)?.get(run);
    return { charged: entry?.charged ?? 0, refunded: entry?.refunded ?? 0 };
  }

  async moneyOf(order: OrderKey): Promise<Money | undefined> {
    return this.moneyOfNow(order);
  }

  /** Totals over every run of the order, read at once; undefined if the provider has no record of it. */
  moneyOfNow(order: OrderKey): Money | undefined {
    const runs = this.orders.get(order);
    if (!runs) return undefined;
    let charged = 0;
    let refunded = 0;
    for (const entry of runs.values()) {
      charged += entry.charged;
      refunded += entry.refunded;
    }
    return { charged, refunded };
  }

  counts(): LedgerCounts {
    return { ...this.tally };
  }

  /** The order's record is gone: the provider's books of it go too (memory is bounded). */
  forget(order: OrderKey): void {
    this.orders.delete(order);
  }

  private entry(order: OrderKey, run: number): RunEntry {
    let runs = this.orders.get(order);
    if (!runs) this.orders.set(order, (runs = new Map<number, RunEntry>()));
    let entry = runs.get(run);
    if (!entry) runs.set(run, (entry = { charged: 0, refunded: 0, voided: false, declined: false }));
    return entry;
  }
}
