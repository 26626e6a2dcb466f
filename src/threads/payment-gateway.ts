/**
 * The main thread's end of the payment provider: steps on worker threads send
 * it their charge and void requests (LedgerRequest), and it applies them to
 * the provider's books as they arrive.
 *
 * A request can also be lost: the thread that sent it may die before the
 * message leaves, or before it is read. So a step records each request in its
 * cancel cell first, and when its task is over — reported, or its thread gone
 * — the runner has the gateway `settle` it: apply what the cell says was
 * asked, again (the provider is idempotent), and tell what became of it.
 * From then on the books are exact for that step, whatever its thread did.
 *
 * A request is not sent to the provider twice: its message and its
 * settlement share its answer (kept-answers.ts).
 *
 * Everything it keeps of an order goes when the order's record goes
 * (`forget`), and at the latest once the record's time to live has passed
 * since the run ended: nothing it holds outgrows the records.
 */
import type { Logger } from 'pino';
import { orderLogFields, type OrderKey, type OrderRun } from '../domain/order.js';
import type { ChargeAnswer, PaymentKey, PaymentLedger, VoidAnswer } from '../ledger/payment-ledger.js';
import type { StepEffect } from '../pipeline/steps.js';
import { KeptAnswers } from './kept-answers.js';
import { REQUESTED_CHARGE, REQUESTED_TEST, REQUESTED_VOID, type LedgerRequest } from './protocol.js';

/**
 * Heap bytes of one order's money at risk, a little over a Map entry holding
 * a Map of one run (245 measured with --expose-gc over 50,000): counted in the order records'
 * bound while the order's record may hold it.
 */
export const AT_RISK_BYTES = 270;

interface AtRisk {
  /** Run → charged − refunded. */
  readonly runs: Map<number, number>;
  /** When the order's record has expired at the latest. */
  expiresAt: number;
}

export class PaymentGateway {
  /**
   * Orders with runs that ended in failure with money still taken, and how much: the money at risk. In the order their
   * last such run ended.
   */
  private readonly atRisk = new Map<OrderKey, AtRisk>();
  private readonly answers = new KeptAnswers<ChargeAnswer | VoidAnswer>();

  constructor(
    private readonly ledger: PaymentLedger,
    private readonly log: Logger,
    /**
     * How long an order's record is kept once its run ended (IDEMPOTENCY_TTL_MS): its money at risk is not kept longer.
     */
    private readonly keepMs: number = Infinity,
    private readonly now: () => number = Date.now,
  ) {}

  /** A request from a thread, as it arrives. */
  receive(request: LedgerRequest): void {
    const key: PaymentKey = { order: request.order, run: request.run };
    const applied = this.answers.received(key.order, request.op, key.run, () =>
      request.op === 'charge'
        ? this.ledger.charge(key, request.amount, request.test)
        : this.ledger.void(key, request.test),
    );
    applied?.catch((error: unknown) =>
      this.log.warn(
        { err: error, ...orderLogFields(key.order), run: key.run, op: request.op },
        'payment provider request failed; it is applied again when its step is settled',
      ),
    );
  }

  /**
   * A step's task is over and its cell recorded `requests`: make sure they
   * were applied, and say what the provider did. Undefined: nothing was asked.
   */
  async settle(requests: number, { order, key: orderKey, runNumber: run }: OrderRun): Promise<StepEffect | undefined> {
    const key: PaymentKey = { order: orderKey, run };
    const test = (requests & REQUESTED_TEST) !== 0;
    try {
      if (requests & REQUESTED_CHARGE)
        return (await this.answers.settled(orderKey, 'charge', run, () =>
          this.ledger.charge(key, order.amount, test),
        )) === 'charged'
          ? 'applied'
          : 'refused';
      if (requests & REQUESTED_VOID)
        return (await this.answers.settled(orderKey, 'void', run, () => this.ledger.void(key, test))) === 'refused'
          ? 'refused'
          : 'applied';
      return undefined;
    } catch (error) {
      // The provider cannot be asked: a charge may have been taken (assume
      // it was); what became of a void is unknown — not a refusal, which only
      // the provider can give: its order has it voided again by the main thread.
      this.log.error(
        { err: error, ...orderLogFields(key.order), run },
        'payment provider unreachable while settling a step',
      );
      return requests & REQUESTED_CHARGE ? 'applied' : undefined;
    }
  }

  /**
   * A run has ended: if it failed and money of it is still taken, that money is at risk. Never rejects: a provider that
   * cannot be asked leaves the figure as it was.
   */
  async runEnded(key: PaymentKey, failed: boolean): Promise<void> {
    this.dropExpired();
    if (!failed) return;
    try {
      const { charged, refunded } = await this.ledger.moneyOfRun(key);
      if (charged === refunded) return;
      const kept = this.atRisk.get(key.order);
      const runs = kept?.runs ?? new Map<number, number>();
      runs.set(key.run, charged - refunded);
      // Moved to the end: the map stays in the order its entries expire.
      this.atRisk.delete(key.order);
      this.atRisk.set(key.order, { runs, expiresAt: this.now() + this.keepMs });
    } catch (error) {
      this.log.warn(
        { err: error, ...orderLogFields(key.order), run: key.run },
        'payment provider unreachable: money at risk not updated for this run',
      );
    }
  }

  /** The order's record is gone: so is everything kept of it here. */
  forget(order: OrderKey): void {
    this.atRisk.delete(order);
    this.answers.forget(order);
  }

  /** Charged − refunded over the runs that failed. */
  moneyAtRisk(): number {
    this.dropExpired();
    let total = 0;
    for (const { runs } of this.atRisk.values()) for (const amount of runs.values()) total += amount;
    return total;
  }

  /** Orders something is kept of here (money at risk, answers not yet claimed). */
  ordersKept(): number {
    return new Set([...this.atRisk.keys(), ...this.answers.orders()]).size;
  }

  /**
   * Past their record's time to live (the durable mode's records are forgotten in Postgres, where no one tells this).
   */
  private dropExpired(): void {
    const now = this.now();
    for (const [order, { expiresAt }] of this.atRisk) {
      if (expiresAt > now) break;
      this.atRisk.delete(order);
    }
  }
}
