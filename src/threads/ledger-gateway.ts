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
 */
import type { Logger } from 'pino';
import type { OrderRun } from '../domain/order.js';
import type { PaymentKey, PaymentLedger } from '../ledger/payment-ledger.js';
import type { StepEffect } from '../pipeline/steps.js';
import { REQUESTED_CHARGE, REQUESTED_TEST, REQUESTED_VOID, type LedgerRequest } from './protocol.js';

export class LedgerGateway {
  /** Runs that ended in failure with money still taken, and how much: the money at risk. */
  private readonly atRisk = new Map<string, number>();

  constructor(
    private readonly ledger: PaymentLedger,
    private readonly log: Logger,
  ) {}

  /** A request from a thread, as it arrives. */
  receive(request: LedgerRequest): void {
    const key = { orderId: request.orderId, run: request.run };
    const applied = request.op === 'charge' ? this.ledger.charge(key, request.amount, request.test) : this.ledger.void(key, request.test);
    applied.catch((error: unknown) => this.log.warn({ err: error, order_id: key.orderId, run: key.run, op: request.op }, 'payment provider request failed; it is applied again when its step is settled'));
  }

  /**
   * A step's task is over and its cell recorded `requests`: make sure they
   * were applied, and say what the provider did. Undefined: nothing was asked.
   */
  async settle(requests: number, { order, run }: OrderRun): Promise<StepEffect | undefined> {
    const key: PaymentKey = { orderId: order.orderId, run };
    const test = (requests & REQUESTED_TEST) !== 0;
    try {
      if (requests & REQUESTED_CHARGE) return (await this.ledger.charge(key, order.amount, test)) === 'charged' ? 'applied' : 'refused';
      if (requests & REQUESTED_VOID) return (await this.ledger.void(key, test)) === 'refused' ? 'refused' : 'applied';
      return undefined;
    } catch (error) {
      // The provider cannot be asked: assume the worst of each request — a
      // charge may have been taken, a void may not have given anything back.
      this.log.error({ err: error, order_id: key.orderId, run }, 'payment provider unreachable while settling a step');
      return requests & REQUESTED_CHARGE ? 'applied' : 'refused';
    }
  }

  /** A run has ended: if it failed and money of it is still taken, that money is at risk. */
  async runEnded(key: PaymentKey, failed: boolean): Promise<void> {
    if (!failed) return;
    const { charged, refunded } = await this.ledger.moneyOfRun(key);
    if (charged !== refunded) this.atRisk.set(`${key.orderId}\u0000${key.run}`, charged - refunded);
  }

  /** Charged − refunded over the runs that failed. */
  moneyAtRisk(): number {
    let total = 0;
    for (const amount of this.atRisk.values()) total += amount;
    return total;
  }
}
