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
import { expectAtRest } from '../support/leaks.js';
import { captureLog } from '../support/log-capture.js';
import { parseSamples, sampleKey } from '../support/prometheus.js';
import { startTestService } from '../support/service.js';
import { eventually } from '../support/wait.js';

const ORDERS = 4000;

describe('a thread crash with thousands of orders in flight, most waiting for a courier', () => {
  it(
    'leaves the surviving thread to absorb the retried steps: it is not judged stuck, no order fails thread_lost',
    { timeout: 120_000 },
    async () => {
      const log = captureLog();
      const service = await startTestService({
        config: { threads: 2, couriers: 5, orderTimeoutMs: 10_000 },
        logger: log.logger,
      });
      try {
        // 5 couriers for 100 ms each: 50 orders a second get one, the rest wait.
        // Thousands in flight before the crash (arriving takes seconds on a busy machine).
        const answers = Array.from({ length: ORDERS }, (_, i) =>
          service.order({ order_id: `backlog-${i}`, amount: 10, delay_ms: { payment: 50, vendor: 50, courier: 100 } }),
        );
        await eventually(
          () => service.health(),
          (health) => health.orders_in_flight >= ORDERS / 2 && health.couriers_busy === 5,
          { within: 30_000, every: 50 },
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
