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
 * A request is not sent to the provider twice: the first of its message
 * and its settlement to come applies it and keeps the answer for the other
 * (the two travel on different ports, in either order) — with a provider
 * across the network (Postgres), one round trip per step less. Only a
 * request whose application failed is applied again. Answers never claimed
 * (a message lost with its thread) are dropped after a sweep period or two.
 */
import type { Logger } from 'pino';
import type { OrderRun } from '../domain/order.js';
import type { ChargeAnswer, PaymentKey, PaymentLedger, VoidAnswer } from '../ledger/payment-ledger.js';
import type { StepEffect } from '../pipeline/steps.js';
import { REQUESTED_CHARGE, REQUESTED_TEST, REQUESTED_VOID, type LedgerRequest } from './protocol.js';

/** Answers kept for settlements are swept this often: one unclaimed survives one to two periods. */
const ANSWERS_SWEEP_MS = 10_000;

type Answer = Promise<ChargeAnswer | VoidAnswer>;

export class LedgerGateway {
  /** Runs that ended in failure with money still taken, and how much: the money at risk. */
  private readonly atRisk = new Map<string, number>();
  /** Answers of requests that arrived, for their settlements: this period's and the last. */
  private answers = new Map<string, Answer>();
  private olderAnswers = new Map<string, Answer>();
  private readonly sweep: NodeJS.Timeout;

  constructor(
    private readonly ledger: PaymentLedger,
    private readonly log: Logger,
  ) {
    this.sweep = setInterval(() => {
      this.olderAnswers = this.answers;
      this.answers = new Map();
    }, ANSWERS_SWEEP_MS);
    this.sweep.unref();
  }

  /** A request from a thread, as it arrives. */
  receive(request: LedgerRequest): void {
    const key = { orderId: request.orderId, run: request.run };
    // Its step was settled first: applied then.
    if (this.claim(answerKey(request.op, key))) return;
    const applied: Answer = request.op === 'charge' ? this.ledger.charge(key, request.amount, request.test) : this.ledger.void(key, request.test);
    this.answers.set(answerKey(request.op, key), applied);
    applied.catch((error: unknown) =>
      this.log.warn({ err: error, order_id: key.orderId, run: key.run, op: request.op }, 'payment provider request failed; it is applied again when its step is settled'),
    );
  }

  /**
   * What the provider answered to the request when its message arrived — or,
   * if it has not arrived (or failed), the answer to applying it now, kept
   * for the message should it come later.
   */
  private async answerOf(op: LedgerRequest['op'], key: PaymentKey, apply: () => Answer): Answer {
    const id = answerKey(op, key);
    const received = this.claim(id);
    if (received) {
      try {
        return await received;
      } catch {
        // Failed when it arrived: apply it again.
      }
    }
    const applied = apply();
    this.answers.set(id, applied);
    return applied;
  }

  /** The answer kept under `id`, taken out; undefined if none. */
  private claim(id: string): Answer | undefined {
    const kept = this.answers.get(id) ?? this.olderAnswers.get(id);
    if (kept) {
      this.answers.delete(id);
      this.olderAnswers.delete(id);
    }
    return kept;
  }

  /**
   * A step's task is over and its cell recorded `requests`: make sure they
   * were applied, and say what the provider did. Undefined: nothing was asked.
   */
  async settle(requests: number, { order, run }: OrderRun): Promise<StepEffect | undefined> {
    const key: PaymentKey = { orderId: order.orderId, run };
    const test = (requests & REQUESTED_TEST) !== 0;
    try {
      if (requests & REQUESTED_CHARGE) return (await this.answerOf('charge', key, () => this.ledger.charge(key, order.amount, test))) === 'charged' ? 'applied' : 'refused';
      if (requests & REQUESTED_VOID) return (await this.answerOf('void', key, () => this.ledger.void(key, test))) === 'refused' ? 'refused' : 'applied';
      return undefined;
    } catch (error) {
      // The provider cannot be asked: a charge may have been taken (assume
      // it was); what became of a void is unknown — not a refusal, which only
      // the provider can give: its order has it voided again by the main thread.
      this.log.error({ err: error, order_id: key.orderId, run }, 'payment provider unreachable while settling a step');
      return requests & REQUESTED_CHARGE ? 'applied' : undefined;
    }
  }

  /** A run has ended: if it failed and money of it is still taken, that money is at risk. Never rejects: a provider that cannot be asked leaves the figure as it was. */
  async runEnded(key: PaymentKey, failed: boolean): Promise<void> {
    if (!failed) return;
    try {
      const { charged, refunded } = await this.ledger.moneyOfRun(key);
      if (charged !== refunded) this.atRisk.set(`${key.orderId}\u0000${key.run}`, charged - refunded);
    } catch (error) {
      this.log.warn({ err: error, order_id: key.orderId, run: key.run }, 'payment provider unreachable: money at risk not updated for this run');
    }
  }

  /** Charged − refunded over the runs that failed. */
  moneyAtRisk(): number {
    let total = 0;
    for (const amount of this.atRisk.values()) total += amount;
    return total;
  }
}

function answerKey(op: LedgerRequest['op'], { orderId, run }: PaymentKey): string {
  return `${op}\u0000${run}\u0000${orderId}`;
}
