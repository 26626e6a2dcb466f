/**
 * The money: what the order records and the payment provider hold, read at scrape time — what was charged and refunded,
 * what a person must give back, the voids still being asked for.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { LedgerCounts } from '../../ledger/payment-ledger.js';

/** What the order records and the payment provider hold, read at scrape time. */
export interface MoneyFigures {
  /** Order records kept. */
  records(): number;
  ledger(): LedgerCounts;
  /** Charged − refunded over the runs that failed. */
  moneyAtRisk(): number;
  /** Voids of failed orders the main thread keeps asking the provider for, and its attempts that failed since start. */
  voids(): { readonly pending: number; readonly failedAttempts: number };
}

export function registerMoneyMetrics(registers: Registry[], money: MoneyFigures): void {
  new Gauge({
    name: 'order_records',
    help: 'Orders the service keeps a record of (their final outcomes are replayed; GET /orders/{order_id} reads them).',
    registers,
    collect() {
      this.set(money.records());
    },
  });
  const ledgerSeen: Record<keyof LedgerCounts, number> = { charges: 0, declines: 0, refunds: 0, refusals: 0 };
  new Counter({
    name: 'payments_total',
    help: 'What the payment provider did: charged, declined (the test card), refunded, or refused to refund.',
    labelNames: ['outcome'],
    registers,
    collect() {
      const now = money.ledger();
      for (const [field, outcome] of [
        ['charges', 'charged'],
        ['declines', 'declined'],
        ['refunds', 'refunded'],
        ['refusals', 'refund_refused'],
      ] as const) {
        this.inc({ outcome }, now[field] - ledgerSeen[field]);
        ledgerSeen[field] = now[field];
      }
    },
  });
  new Gauge({
    name: 'money_at_risk',
    help: "Charged − refunded over the runs that failed, in the orders' unit: money a person must give back.",
    registers,
    collect() {
      this.set(money.moneyAtRisk());
    },
  });
  new Gauge({
    name: 'payment_voids_pending',
    help: "Voids of failed orders' payments the provider has not answered yet (it could not be reached): the main thread asks again, backing off, until it applies or refuses them.",
    registers,
    collect() {
      this.set(money.voids().pending);
    },
  });
  let voidFailuresSeen = 0;
  new Counter({
    name: 'payment_void_attempts_failed_total',
    help: 'Attempts of the main thread to void a failed order’s payment that found the provider unreachable (each is tried again).',
    registers,
    collect() {
      const now = money.voids().failedAttempts;
      this.inc(now - voidFailuresSeen);
      voidFailuresSeen = now;
    },
  });
}
