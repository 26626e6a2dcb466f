/**
 * A thread's death, the quickest way (FAULT_INJECTION=on, a payment that throws an uncaught error after its charge
 * reached the provider): the culprit's order fails 500 and its payment is voided, a new thread takes the dead one's
 * place, and the neighbours that shared the thread are run again and succeed. Every other way a thread is lost is
 * faults.test.ts, in the long suite. With THREADS=1, so every concurrent step shares the one thread.
 */
import { describe, expect, it } from 'vitest';
import { orderBody } from '../support/orders.js';
import { expectCulpritAloneFails, faultyServices } from '../support/thread-faults.js';

const faulty = faultyServices();
const { start } = faulty;

describe('with FAULT_INJECTION off', () => {
  it('an order carrying faults is refused with 400, and nothing runs', async () => {
    const service = await start({ faultInjection: false });
    const { status, body } = await service.order(orderBody({ faults: { payment: 'crash' } }));
    expect(status).toBe(400);
    expect(body.error).toEqual({
      kind: 'bad_request',
      message: 'faults: fault injection is off (the server enables it with FAULT_INJECTION=on)',
    });
    expect((await service.health()).threads_replaced).toBe(0);
  });
});

describe('a payment that throws an uncaught error after its charge reached the provider', () => {
  it('fails its own order with 500 internal and voids the payment; the thread is replaced; its neighbours run again and succeed', () =>
    expectCulpritAloneFails(faulty, 'crash'));
});
