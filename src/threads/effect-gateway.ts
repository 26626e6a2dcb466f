/**
 * The main thread's end of the services steps act on (the vendor, the courier service: src/ledger/service-books.ts):
 * steps send it their effect requests (EffectRequest) as their thread's messages, and it sends each to the service's
 * books as it arrives — with the run's key and the claim's fence the step was given, so a request of an instance whose
 * run was taken over meanwhile is refused there, not here.
 *
 * As with the payment provider (payment-gateway.ts), a step records its request in its cancel cell before it leaves,
 * and once its task is over the runner has the gateway `settle` it, under the same key and fence: a request lost with
 * its thread is applied then, so a step recorded ok has its effect in the books, whatever its thread did. The message
 * and the settlement share one answer (kept-answers.ts): the books count each request the step sent once.
 *
 * Nothing needs undoing: an effect is never taken back (no step but the payment has a compensation), and a request
 * applied for a run that then fails stays applied under that run's key — a retry is a new run, a new key.
 */
import type { Logger } from 'pino';
import { orderLogFields, type OrderKey, type OrderRun } from '../domain/order.js';
import type { EffectAnswer, EffectCaller, ServiceBooks } from '../ledger/service-books.js';
import type { StepEffect } from '../pipeline/steps.js';
import { KeptAnswers } from './kept-answers.js';
import type { EffectRequest } from './protocol.js';

export class EffectGateway {
  private readonly answers = new KeptAnswers<EffectAnswer>();

  constructor(
    private readonly books: ServiceBooks,
    private readonly log: Logger,
  ) {}

  /** A request from a thread, as it arrives. */
  receive({ order, run, step, fence, caller }: EffectRequest): void {
    const applied = this.answers.received(order, step, run, () =>
      this.books.request({ order, run, step }, { fence, instance: caller }),
    );
    applied?.catch((error: unknown) =>
      this.log.warn(
        { err: error, ...orderLogFields(order), run, step },
        'effect request failed; it is sent again when its step is settled',
      ),
    );
  }

  /**
   * A step's task is over and its cell recorded an effect request: make sure it reached the service, under the key and
   * fence its task was given, and say what the service did — applied (now, or by an earlier request under the key), or
   * refused (a newer claim of the run was seen). Undefined: the service could not be asked (its books say nothing of
   * it yet; the step's own record, sent to the same store, is then refused too).
   */
  async settle(
    step: string,
    { key: order, runNumber: run }: OrderRun,
    caller: EffectCaller,
  ): Promise<StepEffect | undefined> {
    try {
      const answer = await this.answers.settled(order, step, run, () =>
        this.books.request({ order, run, step }, caller),
      );
      return answer === 'stale' ? 'refused' : 'applied';
    } catch (error) {
      this.log.error({ err: error, ...orderLogFields(order), run, step }, 'service unreachable while settling a step');
      return undefined;
    }
  }

  /** The order's record is gone: so is everything kept of it here. */
  forget(order: OrderKey): void {
    this.answers.forget(order);
  }
}
