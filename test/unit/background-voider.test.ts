/**
 * The main thread's voids of failed orders' payments: asked at once, and,
 * while the provider cannot be reached, asked again with backoff until it
 * answers — never dropped, every failed attempt counted, a refusal or a
 * void still pending at shutdown written as an error line.
 */
import { describe, expect, it } from 'vitest';
import { MemoryLedger } from '../../src/ledger/memory-ledger.js';
import type { PaymentKey, VoidAnswer } from '../../src/ledger/payment-ledger.js';
import { BackgroundVoider } from '../../src/ledger/background-voider.js';
import { captureLog } from '../support/log-capture.js';
import { eventually } from '../support/wait.js';
import { orderKey, type OrderKey } from '../../src/domain/order.js';

/** An order of the tests' one client. */
const k = (orderId: string): OrderKey => orderKey('test', orderId);

/** The in-memory provider, unreachable for the next `failures` voids. */
class FlakyLedger extends MemoryLedger {
  voidCalls = 0;
  constructor(private failures: number) {
    super();
  }

  override async void(key: PaymentKey, refuse: boolean): Promise<VoidAnswer> {
    this.voidCalls++;
    if (this.failures > 0) {
      this.failures--;
      throw new Error('connect ECONNREFUSED');
    }
    return super.void(key, refuse);
  }
}

const key: PaymentKey = { order: k('o'), run: 1 };

/** A provider failing its next `failures` voids, with run `key` charged 10, and a voider in front of it. */
async function voiderBefore(failures: number) {
  const ledger = new FlakyLedger(failures);
  await ledger.charge(key, 10, false);
  const log = captureLog();
  return { ledger, log, voider: new BackgroundVoider(ledger, log.logger) };
}

/** Once the voider has nothing left to ask for. */
const whenSettled = (voider: BackgroundVoider) =>
  eventually(
    async () => voider.size,
    (pending) => pending === 0,
    { within: 5000 },
  );

describe('BackgroundVoider', () => {
  it('answers with the provider’s word when it can be asked at once', async () => {
    const { voider } = await voiderBefore(0);
    expect(await voider.void(key, false)).toBe('refunded');
    expect(await voider.void(key, false)).toBe('nothing_to_refund');
    expect(await voider.void({ order: k('p'), run: 1 }, true)).toBe('nothing_to_refund');
    expect({ pending: voider.size, failed: voider.failedAttempts }).toEqual({ pending: 0, failed: 0 });
  });

  it('keeps asking an unreachable provider, backing off, until the money is back; each failure counted', async () => {
    const { ledger, log, voider } = await voiderBefore(4);
    expect(await voider.void(key, false)).toBe('pending');
    expect(voider.size).toBe(1);
    // Asked for again while pending: not a second void in flight.
    expect(await voider.void(key, false)).toBe('pending');
    await whenSettled(voider);
    expect(await ledger.moneyOfRun(key)).toEqual({ charged: 10, refunded: 10 });
    expect({ calls: ledger.voidCalls, failed: voider.failedAttempts }).toEqual({ calls: 5, failed: 4 });
    expect(log.lines.filter((line) => line['level'] === 40)).toHaveLength(4);
    expect(log.lines.at(-1)).toMatchObject({ level: 30, order_id: 'o', run: 1, attempts: 5, answer: 'refunded' });
  });

  it('names the order’s trace on every line it writes, the background attempts long after the answer included', async () => {
    const { log, voider } = await voiderBefore(2);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    expect(await voider.void(key, false, { requestId: 'r', traceId })).toBe('pending');
    await whenSettled(voider);
    expect(log.lines).toHaveLength(3);
    for (const line of log.lines) expect(line).toMatchObject({ order_id: 'o', trace_id: traceId });
  });

  it('asks once and keeps at nothing where the store’s recovery voids a run in doubt (the durable mode)', async () => {
    const ledger = new FlakyLedger(1);
    const log = captureLog();
    const voider = new BackgroundVoider(ledger, log.logger, false);
    expect(await voider.void(key, false)).toBe('pending');
    expect({ pending: voider.size, failed: voider.failedAttempts, calls: ledger.voidCalls }).toEqual({
      pending: 0,
      failed: 1,
      calls: 1,
    });
    expect(log.lines).toEqual([
      expect.objectContaining({
        level: 40,
        msg: 'payment provider unreachable while voiding a failed order; the run is in doubt, recovery voids it',
      }),
    ]);
  });

  it('writes an error line when the provider, reached at last, refuses; and names at shutdown what is still pending', async () => {
    const { log, voider } = await voiderBefore(1);
    expect(await voider.void(key, true)).toBe('pending');
    await whenSettled(voider);
    expect(log.lines.at(-1)).toMatchObject({
      level: 50,
      order_id: 'o',
      msg: 'order failed and its payment could not be voided: a person must look',
    });

    const unreachable = new FlakyLedger(Infinity);
    const closing = new BackgroundVoider(unreachable, log.logger);
    expect(await closing.void({ order: k('q'), run: 2 }, false)).toBe('pending');
    closing.close();
    expect(log.lines.at(-1)).toMatchObject({ level: 50, order_id: 'q', run: 2 });
    expect(closing.size).toBe(0);
  });
});
