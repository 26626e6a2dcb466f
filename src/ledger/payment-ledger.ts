/**
 * The payment provider's books: the simulated provider every payment and
 * refund goes to, honest about when money moves. It is the truth about money
 * — what the service believes about a payment is only what the provider
 * says.
 *
 * - A charge is idempotent per run of an order (the key is the order id and
 *   the run): a step run again after its thread was lost never charges twice;
 *   a new run of the same order id is a new charge.
 * - A void is idempotent too: it gives back what that run charged and has not
 *   been refunded yet (nothing if nothing was), and it refuses any charge of
 *   that run still on its way — a request sent by a thread that then died can
 *   arrive late. The test switch makes the provider refuse to give money back.
 *
 * An interface, with an in-memory provider and a Postgres one side by side.
 */
import type { OrderKey } from '../domain/order.js';

/** A run of an order: the provider's idempotency key. */
export interface PaymentKey {
  readonly order: OrderKey;
  readonly run: number;
}

export type ChargeAnswer =
  | 'charged' // the amount was taken (now, or by an earlier request with the same key)
  | 'declined' // the test card: nothing taken
  | 'voided'; // the run was voided before this charge arrived: nothing taken

export type VoidAnswer =
  | 'refunded' // what the run had charged was given back
  | 'nothing_to_refund' // the run had charged nothing, or it was given back already
  | 'refused' // the test switch: the money stays taken
  | 'not_held'; // the run is not the caller's any more (taken over, durable mode): its money is its new holder's

/** Money of one run, or of every run of an order, in the order's unit. */
export interface Money {
  readonly charged: number;
  readonly refunded: number;
}

/** What the provider has done, since start, for the metrics. */
export interface LedgerCounts {
  readonly charges: number;
  readonly declines: number;
  readonly refunds: number;
  readonly refusals: number;
}

export interface PaymentLedger {
  charge(key: PaymentKey, amount: number, decline: boolean): Promise<ChargeAnswer>;
  void(key: PaymentKey, refuse: boolean): Promise<VoidAnswer>;
  /** Money of one run (zero if the provider has no record of it). */
  moneyOfRun(key: PaymentKey): Promise<Money>;
  /** Totals over every run of the order; undefined if the provider has no record of it. */
  moneyOf(order: OrderKey): Promise<Money | undefined>;
  counts(): LedgerCounts;
}
