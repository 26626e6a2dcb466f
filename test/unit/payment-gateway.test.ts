/**
 * What the main thread's end of the provider keeps of each order — money at
 * risk, answers waiting for their settlements — goes when the order's record
 * goes, and at the latest once the record's time to live has passed: it never
 * holds more orders than the records do (before, its money-at-risk list grew
 * without bound: 66,300 entries beside 3,297 records).
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryLedger } from '../../src/ledger/memory-ledger.js';
import { PaymentGateway } from '../../src/threads/payment-gateway.js';
import { REQUESTED_CHARGE } from '../../src/threads/protocol.js';
import { ANONYMOUS } from '../../src/auth/caller.js';
import { orderKey, runOf, type OrderKey } from '../../src/domain/order.js';
import { everyAction, everyStep } from '../../src/domain/steps.js';

/** An order of the tests' one client. */
const k = (orderId: string): OrderKey => orderKey('test', orderId);

const silent = pino({ level: 'silent' });
const order = (orderId: string) => ({
  client: ANONYMOUS,
  orderId,
  amount: 10,
  failStep: undefined,
  failCompensation: true,
  delayMs: everyAction(0),
  cpuMs: everyStep(0),
});

/** `n` runs that failed with their money still taken (the provider refused the refund). */
async function failedRuns(gateway: PaymentGateway, ledger: MemoryLedger, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `o${i}`);
  for (const orderId of ids) {
    await ledger.charge({ order: k(orderId), run: 1 }, 10, false);
    await ledger.void({ order: k(orderId), run: 1 }, true);
    await gateway.runEnded({ order: k(orderId), run: 1 }, true);
  }
  return ids;
}

describe('PaymentGateway', () => {
  it('forgets an order’s money at risk and its unclaimed answers with its record', async () => {
    const ledger = new MemoryLedger();
    const gateway = new PaymentGateway(ledger, silent);
    const ids = await failedRuns(gateway, ledger, 1000);
    // A charge whose message arrived but whose step was never settled (its thread died with the cell's word of it).
    gateway.receive({ ledger: true, op: 'charge', order: k('unsettled'), run: 1, amount: 10, test: false });
    expect({ kept: gateway.ordersKept(), atRisk: gateway.moneyAtRisk() }).toEqual({ kept: 1001, atRisk: 10_000 });
    for (const orderId of [...ids, 'unsettled']) gateway.forget(k(orderId));
    expect({ kept: gateway.ordersKept(), atRisk: gateway.moneyAtRisk() }).toEqual({ kept: 0, atRisk: 0 });
  });

  it('keeps money at risk no longer than the record’s time to live, where no one tells it the record went (the durable mode)', async () => {
    let now = 0;
    const ledger = new MemoryLedger();
    const gateway = new PaymentGateway(ledger, silent, 1000, () => now);
    await failedRuns(gateway, ledger, 100);
    now = 999;
    expect(gateway.ordersKept()).toBe(100);
    now = 1000;
    expect({ atRisk: gateway.moneyAtRisk(), kept: gateway.ordersKept() }).toEqual({ atRisk: 0, kept: 0 });
  });

  it('still settles a step whose answer it kept, and forgets the answer once claimed', async () => {
    const ledger = new MemoryLedger();
    const gateway = new PaymentGateway(ledger, silent);
    gateway.receive({
      ledger: true,
      op: 'charge',
      order: orderKey(ANONYMOUS, 'o'),
      run: 1,
      amount: 10,
      test: false,
    });
    expect(await gateway.settle(REQUESTED_CHARGE, runOf(order('o'), 1))).toBe('applied');
    expect(gateway.ordersKept()).toBe(0);
    expect(ledger.counts().charges).toBe(1);
  });
});
