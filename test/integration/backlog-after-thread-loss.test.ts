/**
 * One thread's death must not take the healthy one with it. With thousands
 * of orders in flight on THREADS=2, most waiting for one of 5 couriers, a
 * crash sends every step of the dead thread to the survivor at once. The
 * survivor works through that backlog in long turns of its event loop; it
 * is making progress all along, and must never be judged stuck for it
 * (before, it was terminated "stuck for 250 ms" and ~2,000 orders failed
 * thread_lost).
 */
import { describe, expect, it } from 'vitest';
import { arrivalsPerSecond } from '../support/arrivals.js';
import { expectAtRest } from '../support/leaks.js';
import { captureLog } from '../support/log-capture.js';
import { parseSamples, sampleKey } from '../support/prometheus.js';
import { startTestService } from '../support/service.js';
import { eventually } from '../support/wait.js';

const ORDERS = 4000;
/** Orders a second the couriers serve (5 for 100 ms each): the rest wait. */
const SERVED_PER_SECOND = 50;

describe('a thread crash with thousands of orders in flight, most waiting for a courier', () => {
  it(
    'leaves the surviving thread to absorb the retried steps: it is not judged stuck, no order fails thread_lost',
    { timeout: 240_000 },
    async () => {
      // The orders' deadline outlasts the time half of them take to arrive, with room: so thousands are in flight
      // however fast they come (beside busy cores, with a fixed 10 s, in flight never passed ~400), and the deadlines
      // then cut orders on the survivor while it works through the backlog, as they did when it was judged stuck.
      // 10 s on a quiet machine, as before.
      const arrivals = await arrivalsPerSecond();
      const pilingUp = Math.max(1, arrivals - SERVED_PER_SECOND);
      const orderTimeoutMs = Math.min(90_000, Math.max(10_000, Math.ceil((2 * (ORDERS / 2) * 1000) / pilingUp)));
      console.log(`backlog: ${Math.round(arrivals)} orders/s arrive; ORDER_TIMEOUT_MS ${orderTimeoutMs}`);
      const log = captureLog();
      const service = await startTestService({
        config: { threads: 2, couriers: 5, orderTimeoutMs },
        logger: log.logger,
      });
      try {
        // Thousands in flight before the crash, sent on raw sockets (fetch costs this process more per request).
        const answers = Array.from({ length: ORDERS }, (_, i) =>
          service.orderOnce({
            order_id: `backlog-${i}`,
            amount: 10,
            delay_ms: { payment: 50, vendor: 50, courier: 100 },
          }),
        );
        // Awaited below; should the test fail before, the shutdown's resets are not more failures.
        for (const answer of answers) answer.catch(() => undefined);
        await eventually(
          () => service.health(),
          (health) => health.orders_in_flight >= ORDERS / 2 && health.couriers_busy === 5,
          { within: orderTimeoutMs, every: 50 },
        );
        const killer = await service.order({
          order_id: 'backlog-killer',
          amount: 10,
          delay_ms: { payment: 20, vendor: 0, courier: 0 },
          faults: { payment: 'crash' },
        });
        expect(killer.status).toBe(500);

        const outcomes = new Map<string, number>();
        let reran = 0;
        for (const { status, body } of await Promise.all(answers)) {
          const key = `${status} ${body.error?.kind ?? 'ok'}`;
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
          if (body.steps?.some((step) => step.attempts === 2)) reran++;
        }
        const terminations = log.lines.filter((line) => line['cause'] === 'terminated').map((line) => line['reason']);
        expect(terminations).toEqual([]);
        // Served, or out of time waiting for a courier: never lost with a second thread.
        expect([...outcomes.keys()].filter((key) => key !== '200 ok' && key !== '504 timeout')).toEqual([]);
        // The dead thread's steps did run again, on the survivor.
        expect(reran).toBeGreaterThan(100);
        await expectAtRest(service, 2);
        const metrics = parseSamples(await (await fetch(new URL('/metrics', service.url))).text());
        expect(metrics.get(sampleKey('worker_threads_replaced_total', { cause: 'died' }))).toBe(1);
        expect(metrics.get(sampleKey('worker_threads_replaced_total', { cause: 'terminated' })) ?? 0).toBe(0);
        expect(metrics.get('money_at_risk')).toBe(0);
      } finally {
        await service.shutdown();
      }
    },
  );
});
