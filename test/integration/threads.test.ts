/**
 * What threads do and do not cost here: waiting steps share a few threads,
 * CPU work runs in parallel off the event loop, and closing the pool gives
 * every OS thread back.
 */
import { describe, expect, it } from 'vitest';
import { expectAtRest, expectOsThreadsBackTo, osThreadCount, settledOsThreadCount } from '../support/leaks.js';
import { orderBody, stepsOf } from '../support/orders.js';
import { startTestService } from '../support/service.js';
import { pause } from '../support/wait.js';

describe('waiting holds no thread', () => {
  it('2 threads serve 3,000 steps sleeping at once, the way goroutines share OS threads', async () => {
    const svc = await startTestService({ config: { threads: 2, couriers: 1024, orderTimeoutMs: 10_000 } });
    try {
      const started = performance.now();
      let answered = false;
      // Long enough that all 1,000 are in before the first is done (this
      // process is both the client and the server).
      const orders = Promise.all(
        Array.from({ length: 1000 }, () =>
          svc.order(orderBody({ delay_ms: { payment: 3000, vendor: 3000, courier: 3000 } })),
        ),
      );
      void orders.finally(() => (answered = true));
      let mostRunning = 0;
      while (!answered) {
        mostRunning = Math.max(mostRunning, (await svc.health()).running_steps);
        await pause(50);
      }
      const answers = await orders;
      const elapsed = performance.now() - started;

      expect(answers.every(({ status }) => status === 200)).toBe(true);
      expect(mostRunning).toBeGreaterThanOrEqual(2500);
      // Held threads would have served 2 steps at a time: 1,500 rounds of 3 s.
      expect(elapsed).toBeLessThan(9000);
      const threadIds = new Set(answers.flatMap(({ body }) => (body.steps ?? []).map((step) => step.thread_id)));
      expect(threadIds.size).toBe(2);
      await expectAtRest(svc, 2);
    } finally {
      await svc.shutdown();
    }
  });
});

describe('CPU work holds its thread, in parallel and off the event loop', () => {
  it('two 800 ms payments finish together on 2 threads, and /healthz answers meanwhile within 50 ms', async () => {
    const svc = await startTestService({ config: { threads: 2 } });
    try {
      const started = performance.now();
      const cpuBound = orderBody({ cpu_ms: { payment: 800 }, delay_ms: { payment: 0, vendor: 0, courier: 0 } });
      const orders = [svc.order({ ...cpuBound, order_id: 'cpu-1' }), svc.order({ ...cpuBound, order_id: 'cpu-2' })];
      const healthLatencies: number[] = [];
      for (let probe = 0; probe < 10; probe++) {
        await pause(50);
        const sent = performance.now();
        await svc.health();
        healthLatencies.push(performance.now() - sent);
      }
      const answers = await Promise.all(orders);
      const elapsed = performance.now() - started;

      expect(answers.map(({ status }) => status)).toEqual([200, 200]);
      const paymentThreads = answers.map(({ body }) => stepsOf(body)['payment']!.thread_id);
      expect(new Set(paymentThreads).size).toBe(2);
      // One after the other would take 1.6 s.
      expect(elapsed).toBeLessThan(1300);
      expect(Math.max(...healthLatencies)).toBeLessThan(50);
      await expectAtRest(svc, 2);
    } finally {
      await svc.shutdown();
    }
  });
});

describe('OS threads', () => {
  it('come back to their count before the pool once it is closed', async () => {
    const before = await settledOsThreadCount();
    const svc = await startTestService({ config: { threads: 4 } });
    expect(osThreadCount()).toBe(before + 4);
    await svc.order(orderBody());
    await svc.shutdown();
    await expectOsThreadsBackTo(before);
  });
});
