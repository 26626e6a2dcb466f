/**
 * The Go service's stress test, over HTTP: 100 clients × 200 orders, 1 ms
 * delays, every 5th order fails payment, else every 7th vendor, else every
 * 9th courier, with 4 couriers. Every status as expected, nothing running
 * at the end.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectAtRest } from '../support/leaks.js';
import { startTestService, type TestService } from '../support/service.js';

const THREADS = 2;
const CLIENTS = 100;
const ORDERS_PER_CLIENT = 100;

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ config: { threads: THREADS, couriers: 4 } });
});
afterAll(async () => svc.shutdown());

function expected(index: number): { failStep?: string; status: number } {
  if (index % 5 === 0) return { failStep: 'payment', status: 400 };
  if (index % 7 === 0) return { failStep: 'vendor', status: 503 };
  if (index % 9 === 0) return { failStep: 'courier', status: 503 };
  return { status: 200 };
}

it(`${CLIENTS * ORDERS_PER_CLIENT} orders from ${CLIENTS} concurrent clients: every status as expected, the tracker at 0`, async () => {
  const mismatches: string[] = [];
  const counts = new Map<number, number>();
  const client = async (worker: number): Promise<void> => {
    for (let i = 0; i < ORDERS_PER_CLIENT; i++) {
      const index = worker * ORDERS_PER_CLIENT + i;
      const { failStep, status } = expected(index);
      const answer = await svc.order({
        order_id: `stress-${index}`,
        amount: 1200,
        delay_ms: { payment: 1, vendor: 1, courier: 1 },
        ...(failStep ? { fail_step: failStep } : {}),
      });
      counts.set(answer.status, (counts.get(answer.status) ?? 0) + 1);
      const expectedBody = status === 200 ? 'ok' : 'error';
      if (
        answer.status !== status ||
        answer.body.status !== expectedBody ||
        answer.body.order_id !== `stress-${index}`
      ) {
        mismatches.push(
          `order ${index}: expected ${status}/${expectedBody}, got ${answer.status}/${answer.body.status}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, worker) => client(worker)));

  expect(mismatches).toEqual([]);
  const total = CLIENTS * ORDERS_PER_CLIENT;
  const failPayment = Math.floor((total - 1) / 5) + 1;
  expect(counts.get(400)).toBe(failPayment);
  expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(total);
  await expectAtRest(svc, THREADS);
  expect((await svc.health()).threads_replaced).toBe(0);
}, 120_000);
