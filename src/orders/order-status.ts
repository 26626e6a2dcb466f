/**
 * An order as GET /orders/{order_id} tells it: the service's record of it
 * joined with the payment provider's books — totals over every run, so that
 * whoever asks can see the money is where it should be. Asked by its key,
 * so a client reads its own orders and no one else's.
 */
import { lifecycleOf, type Lifecycle } from '../domain/lifecycle.js';
import { partsOfKey, type OrderKey } from '../domain/order.js';
import type { Tier } from '../domain/tier.js';
import type { Money, PaymentLedger } from '../ledger/payment-ledger.js';
import type { OrderRecords, OutcomeKind } from './order-records.js';

export interface OrderStatus {
  readonly orderId: string;
  readonly state: 'running' | 'done';
  /** How the latest run ended; undefined while it runs. */
  readonly outcome: OutcomeKind | undefined;
  readonly runs: number;
  readonly payment: Money;
  /** The tier its latest run ran at, where the store keeps it. */
  readonly tier?: Tier;
  /** Where it is in its life (src/domain/lifecycle.ts). */
  readonly lifecycle: Lifecycle;
}

export type OrderStatusQuery = (order: OrderKey) => Promise<OrderStatus | undefined>;

export function orderStatusQuery(records: OrderRecords, ledger: PaymentLedger): OrderStatusQuery {
  return async (key) => {
    const record = await records.get(key);
    if (!record) return undefined;
    const payment = (await ledger.moneyOf(key)) ?? { charged: 0, refunded: 0 };
    return {
      orderId: partsOfKey(key).orderId,
      state: record.state,
      outcome: record.outcome?.kind,
      runs: record.runs,
      payment,
      ...(record.tier ? { tier: record.tier } : {}),
      lifecycle: lifecycleOf(record.state, record.outcome?.kind, record.resumed),
    };
  };
}
