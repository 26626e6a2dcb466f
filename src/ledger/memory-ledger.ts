/**
 * The payment provider's books in this process's memory (the default, when
 * there is no database). Bounded with the order records: the books of an
 * order under way are kept here, and their bytes (`booksBytesOf`) count in
 * the records' bound; once the order is done, its records take its books
 * (`takeBooks`) and keep them folded into its record, a few bytes, for as
 * long as they keep it — its latest run exactly, the runs before it as one
 * sum (`FoldedBooks`). They give them back if the order runs again
 * (`giveBooks`). The provider reads a done order's books there, and in the
 * rare case one changes after its order is done (a request that arrives
 * late), takes them back for the change and hands them back changed.
 */
import type { OrderKey } from '../domain/order.js';
import type { ChargeAnswer, LedgerCounts, Money, PaymentKey, PaymentLedger, VoidAnswer } from './payment-ledger.js';

/** One run's money, and what the provider knows of it. */
export interface RunBooks extends Money {
  readonly run: number;
  /** A void arrived: no charge of this run is taken any more. */
  readonly voided: boolean;
  /** The run paid with the test card: every charge of it is declined. */
  readonly declined: boolean;
}

/**
 * A done order's books as its record keeps them: its latest run as it is,
 * and the runs before it as one sum. Those are settled: an order runs again
 * only after an outcome that is not final, whose payment was voided before
 * it was answered (a refund refused is final: compensation_failed), so a late
 * charge of one is refused (`voided`) and a late void of one has nothing to
 * refund.
 */
export interface FoldedBooks {
  readonly latest: RunBooks;
  readonly earlier: Money;
}

/** Where the books of done orders are kept (with their records): read there, and written back if they change. */
export interface FoldedBooksShelf {
  booksOf(order: OrderKey): FoldedBooks | undefined;
  /** A done order's books changed (a request that arrived late): keep these instead. */
  rewrite(order: OrderKey, books: FoldedBooks): void;
}

/**
 * One run's money. An order's runs are a chain, its latest first: most orders have one run, and a Map each cost more.
 * A chain given back from a done order's record ends with `EARLIER_RUNS`: every run before the one above it, as one.
 */
interface RunEntry {
  readonly run: number;
  charged: number;
  refunded: number;
  /** A void arrived: no charge of this run is taken any more. */
  voided: boolean;
  /** The run paid with the test card: every charge of it is declined. */
  declined: boolean;
  /** The order's run entered before this one, if any. */
  readonly earlier: RunEntry | undefined;
}

/** The run number of an entry standing for every run before the one above it (runs count from 1). */
const EARLIER_RUNS = 0;

/**
 * Heap bytes of one order's books while it runs, a little over what they
 * measure (the key itself is the record's): a chain of run records, not a
 * Map of runs per order, which takes more than twice as much.
 */
const ORDER_BYTES = 40;
const RUN_BYTES = 75;

export function booksBytesOf(runs: number): number {
  return ORDER_BYTES + runs * RUN_BYTES;
}

export class MemoryLedger implements PaymentLedger {
  /** order (its key) → its runs' money, the latest run first: the orders under way, and any not done with. */
  private readonly orders = new Map<OrderKey, RunEntry>();
  private readonly tally = { charges: 0, declines: 0, refunds: 0, refusals: 0 };

  /**
   * `onVoided`: told of each void's answer in the same turn as the books change (the outbox's refund events). `done`:
   * where the books of done orders are; without one, every order's books stay here until forgotten.
   */
  constructor(
    private readonly onVoided: (key: PaymentKey, answer: VoidAnswer) => void = () => {},
    private readonly done?: FoldedBooksShelf,
  ) {}

  async charge(key: PaymentKey, amount: number, decline: boolean): Promise<ChargeAnswer> {
    const unfolded = this.unfold(key.order);
    const answer = this.chargeNow(key, amount, decline);
    if (unfolded) this.refold(key.order);
    return answer;
  }

  private chargeNow({ order, run }: PaymentKey, amount: number, decline: boolean): ChargeAnswer {
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

  async void(key: PaymentKey, refuse: boolean): Promise<VoidAnswer> {
    const unfolded = this.unfold(key.order);
    const answer = this.voidNow(key, refuse);
    if (unfolded) this.refold(key.order);
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

  /** Money of one run, read at once (of a run before a done order's latest: of all of them, settled). */
  moneyOfRunNow({ order, run }: PaymentKey): Money {
    const folded = this.orders.has(order) ? undefined : this.done?.booksOf(order);
    if (folded) {
      const { latest, earlier } = folded;
      return run === latest.run ? money(latest) : run < latest.run ? money(earlier) : money(undefined);
    }
    return money(this.runOf(order, run));
  }

  async moneyOf(order: OrderKey): Promise<Money | undefined> {
    return this.moneyOfNow(order);
  }

  /** Totals over every run of the order, read at once; undefined if the provider has no record of it. */
  moneyOfNow(order: OrderKey): Money | undefined {
    const latest = this.orders.get(order);
    if (!latest) {
      const folded = this.done?.booksOf(order);
      return folded && sum(folded.latest, folded.earlier);
    }
    let charged = 0;
    let refunded = 0;
    for (let entry: RunEntry | undefined = latest; entry; entry = entry.earlier) {
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

  /** The order is done: its books leave, folded, for its record to keep; undefined if it has none. */
  takeBooks(order: OrderKey): FoldedBooks | undefined {
    const latest = this.orders.get(order);
    if (!latest) return undefined;
    this.orders.delete(order);
    let earlier: Money = { charged: 0, refunded: 0 };
    for (let entry = latest.earlier; entry; entry = entry.earlier) earlier = sum(earlier, entry);
    const { run, charged, refunded, voided, declined } = latest;
    return { latest: { run, charged, refunded, voided, declined }, earlier };
  }

  /** A done order runs again: its books, as its record kept them, are kept here again while it runs. */
  giveBooks(order: OrderKey, { latest, earlier: settled }: FoldedBooks): void {
    const { charged, refunded } = settled;
    const before: RunEntry | undefined =
      latest.run > 1
        ? { run: EARLIER_RUNS, charged, refunded, voided: true, declined: false, earlier: undefined }
        : undefined;
    this.orders.set(order, { ...latest, earlier: before });
  }

  /** A request for a done order: its books come back here for it; whether they did. */
  private unfold(order: OrderKey): boolean {
    if (this.orders.has(order)) return false;
    const folded = this.done?.booksOf(order);
    if (!folded) return false;
    this.giveBooks(order, folded);
    return true;
  }

  private refold(order: OrderKey): void {
    this.done!.rewrite(order, this.takeBooks(order)!);
  }

  /** The run's entry: its own, or the one standing for the runs before a done order's latest. */
  private runOf(order: OrderKey, run: number): RunEntry | undefined {
    let later = Infinity;
    for (let entry = this.orders.get(order); entry; entry = entry.earlier) {
      if (entry.run === run || (entry.run === EARLIER_RUNS && run < later)) return entry;
      later = entry.run;
    }
    return undefined;
  }

  private entry(order: OrderKey, run: number): RunEntry {
    const found = this.runOf(order, run);
    if (found) return found;
    const entry: RunEntry = {
      run,
      charged: 0,
      refunded: 0,
      voided: false,
      declined: false,
      earlier: this.orders.get(order),
    };
    this.orders.set(order, entry);
    return entry;
  }
}

const money = (entry: Money | undefined): Money => ({ charged: entry?.charged ?? 0, refunded: entry?.refunded ?? 0 });
const sum = (a: Money, b: Money): Money => ({ charged: a.charged + b.charged, refunded: a.refunded + b.refunded });
