/**
 * The payment provider's books in Postgres (`provider_payments`), shared by
 * every instance: the same rules as the in-memory provider, each call one
 * statement (a plpgsql function that keeps its invariant; see schema.ts).
 *
 * Counts are this instance's: a call is counted only if it changed the
 * books (the first charge of a run, the refund that gave money back), so
 * summing the instances counts everything once, however often a request is
 * repeated — by a settlement, by another instance's recovery.
 *
 * A call that fails — the database down, or anything else — is reported to
 * `inDoubt`: what the provider did for that run is then unknown to this
 * instance, and the order records answer its run `interrupted` rather than
 * what the run believed (see pg-order-records.ts): its payment is voided
 * again before it is recorded, and if that fails too the run is left to
 * recovery. A void that did not get through is thus never recorded as done.
 */
import type {
  ChargeAnswer,
  LedgerCounts,
  Money,
  PaymentKey,
  PaymentLedger,
  VoidAnswer,
} from '../ledger/payment-ledger.js';
import { Batcher, type BatcherOptions } from './batcher.js';
import { asNumber, observedAs, storedKey, type Database, type KeyedRead, type Statement } from './database.js';
import type { StatementObserver } from '../domain/trace.js';
import { partsOfKey, type OrderKey } from '../domain/order.js';

const CHARGE_MANY: Statement = {
  name: 'provider_charge_many',
  text: 'SELECT answer, counted FROM provider_charge_many($1, $2, $3, $4)',
};
const VOID_MANY: Statement = {
  name: 'provider_void_held_many',
  text: 'SELECT answer FROM provider_void_held_many($1, $2, $3, $4, $5) AS answer',
};
const MONEY_OF_RUN: Statement = {
  name: 'provider_money_of_run',
  text: 'SELECT charged, refunded FROM provider_payments WHERE order_id = $1 AND run = $2',
};
const MONEY_OF_MANY: Statement = {
  name: 'provider_money_of_many',
  text: 'SELECT order_id, sum(charged) AS charged, sum(refunded) AS refunded FROM provider_payments WHERE order_id = ANY($1::text[]) GROUP BY order_id',
};

/** Runs whose money this instance could not ask about: told by the ledger, read by the order records. */
export class RunsInDoubt {
  private readonly runs = new Set<string>();

  add({ order, run }: PaymentKey): void {
    this.runs.add(`${run}\u0000${order}`);
  }

  /** Whether the run is in doubt; forgets it (asked once, when the run ends). */
  take({ order, run }: PaymentKey): boolean {
    return this.runs.delete(`${run}\u0000${order}`);
  }
}

interface Charge {
  readonly id: string;
  readonly run: number;
  readonly amount: number;
  readonly decline: boolean;
}

interface Void {
  readonly id: string;
  readonly run: number;
  readonly refuse: boolean;
  /** The run's owner and fence as this instance holds it; undefined: it holds no such run (recovery's own void). */
  readonly holder: RunHolding | undefined;
}

/** Who runs a run, as the instance running it knows: the owner and fence its finish and its voids are sent under. */
export interface RunHolding {
  readonly owner: string;
  readonly fence: number;
}

/** Rows of provider_payments locked in one order by every batch. */
const byKey = (a: { id: string; run: number }, b: { id: string; run: number }): number =>
  a.id < b.id ? -1 : a.id > b.id ? 1 : a.run - b.run;

export class PgLedger implements PaymentLedger {
  private readonly tally = { charges: 0, declines: 0, refunds: 0, refusals: 0 };
  /** The money of an order's runs, for GET /orders/{id}: on the reads' own share, sent together. */
  private readonly moneyReads: KeyedRead<{ order_id: string; charged: string; refunded: string }>;
  private readonly charges: Batcher<Charge, { answer: ChargeAnswer; counted: boolean }>;
  private readonly voids: Batcher<Void, { answer: VoidAnswer }>;

  constructor(
    private readonly db: Database,
    private readonly inDoubt: RunsInDoubt,
    /**
     * The run as this instance holds it, if it does. A void is sent under it: one from an instance lost while its run
     * was taken over and resumed elsewhere, under the same idempotency key, is refused (`not_held`) rather than give
     * the resumed run's payment back behind its new holder.
     */
    private readonly holderOf: (run: number) => RunHolding | undefined,
    batching: Omit<BatcherOptions<never>, 'order' | 'observe'>,
    statements?: StatementObserver,
  ) {
    this.moneyReads = db.readByKey(MONEY_OF_MANY, 'order_id');
    this.charges = new Batcher<Charge, { answer: ChargeAnswer; counted: boolean }>(
      (calls) =>
        db.query(CHARGE_MANY, [
          calls.map((c) => c.id),
          calls.map((c) => c.run),
          calls.map((c) => c.amount),
          calls.map((c) => c.decline),
        ]),
      { ...batching, order: byKey, observe: observedAs('charge', statements) },
    );
    this.voids = new Batcher<Void, { answer: VoidAnswer }>(
      (calls) =>
        db.query(VOID_MANY, [
          calls.map((c) => c.id),
          calls.map((c) => c.run),
          calls.map((c) => c.refuse),
          calls.map((c) => c.holder?.owner ?? null),
          calls.map((c) => c.holder?.fence ?? null),
        ]),
      { ...batching, order: byKey, observe: observedAs('void', statements) },
    );
  }

  async charge(key: PaymentKey, amount: number, decline: boolean): Promise<ChargeAnswer> {
    const row = await this.guard(key, this.charges.call({ id: storedKey(key.order), run: key.run, amount, decline }));
    if (row.counted) this.tally[row.answer === 'declined' ? 'declines' : 'charges']++;
    return row.answer;
  }

  /**
   * `holder`: whom the void is sent as — by default the run as this instance holds it; recovery voids a run it claimed
   * as the claim made it its own (the fence the claim raised), whatever this instance held of it before.
   */
  async void(
    key: PaymentKey,
    refuse: boolean,
    holder: RunHolding | undefined = this.holderOf(key.run),
  ): Promise<VoidAnswer> {
    const { answer } = await this.guard(
      key,
      this.voids.call({ id: storedKey(key.order), run: key.run, refuse, holder }),
    );
    if (answer === 'refunded') this.tally.refunds++;
    if (answer === 'refused') this.tally.refusals++;
    return answer;
  }

  async moneyOfRun({ order, run }: PaymentKey): Promise<Money> {
    const [row] = await this.db.query<{ charged: string; refunded: string }>(MONEY_OF_RUN, [storedKey(order), run]);
    return { charged: row ? asNumber(row.charged) : 0, refunded: row ? asNumber(row.refunded) : 0 };
  }

  async moneyOf(order: OrderKey): Promise<Money | undefined> {
    const row = await this.moneyReads(storedKey(order), partsOfKey(order).client);
    return row && { charged: asNumber(row.charged), refunded: asNumber(row.refunded) };
  }

  counts(): LedgerCounts {
    return { ...this.tally };
  }

  private async guard<T>(key: PaymentKey, call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (error) {
      // Not only when the database is down: a call that failed any other way
      // (a connection not to be had in time…) leaves the run's money unknown too.
      this.inDoubt.add(key);
      throw error;
    }
  }
}
