/**
 * GET /orders/{id}/timeline over Postgres: each step's attempts as recorded
 * when it ended (order_steps) — the instance and thread that ran it, when,
 * in which run — and the order's deadline, counted from its run's start: its
 * own if it sent one, else the service's. A client reads its own order's
 * only.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { components } from '../client/api-types.js';
import { useDurableStores } from '../support/durable-stores.js';
import { expectAtRest } from '../support/leaks.js';
import { POSTGRES_SKIPPED, POSTGRES_UNAVAILABLE } from '../support/postgres.js';
import { startTestService, TEST_CONFIG } from '../support/service.js';
import { ACME, GLOBEX, TWO_CLIENTS } from '../support/two-clients.js';

const stores = useDurableStores();

/** As the document says it. */
type Timeline = components['schemas']['OrderTimeline'];

describe('the timeline in Postgres', () => {
  beforeEach((test) => {
    if (POSTGRES_UNAVAILABLE !== undefined) test.skip(POSTGRES_SKIPPED);
  });

  it("lists each step's recorded attempt with the instance and thread that ran it, and the order's deadline", async () => {
    const config = {
      durable: { databaseUrl: await stores.database(), leaseMs: 3000, poolSize: 4 },
      access: TWO_CLIENTS,
    };
    const svc = await startTestService({ config });
    try {
      const quick = { payment: 20, vendor: 20, courier: 20 };
      const sentAt = Date.now();
      expect(
        (await svc.order({ order_id: 'own-deadline', amount: 500, deadline_ms: 9000, delay_ms: quick }, { key: ACME }))
          .status,
      ).toBe(200);
      expect(
        (await svc.order({ order_id: 'service-deadline', amount: 500, delay_ms: quick }, { key: ACME })).status,
      ).toBe(200);
      const health = (await (await fetch(new URL('/healthz', svc.url))).json()) as { durable: { instance_id: string } };
      const timeline = async (id: string, key: string): Promise<{ status: number; body: Timeline }> => {
        const response = await fetch(new URL(`/orders/${id}/timeline`, svc.url), {
          headers: { authorization: `Bearer ${key}` },
        });
        return { status: response.status, body: (await response.json()) as Timeline };
      };

      const { status, body } = await timeline('own-deadline', ACME);
      expect(status).toBe(200);
      const attempts = body.step_attempts!;
      expect(attempts.map((attempt) => attempt.step).sort()).toEqual(['courier', 'payment', 'vendor']);
      const run = body.events.find((event) => event.type === 'order.succeeded')!.run;
      const runStart = Date.parse(body.run_started_at!);
      expect(runStart).toBeGreaterThanOrEqual(sentAt - 1000);
      for (const attempt of attempts) {
        const step = body.steps.find((s) => s.name === attempt.step)!;
        expect(attempt).toMatchObject({
          run,
          takeovers: 0,
          instance_id: health.durable.instance_id,
          thread_id: step.thread_id,
          outcome: 'ok',
        });
        expect(attempt.thread_id).toBeGreaterThan(0);
        expect(Date.parse(attempt.started_at)).toBeGreaterThanOrEqual(runStart);
        expect(Date.parse(attempt.ended_at)).toBeGreaterThanOrEqual(Date.parse(attempt.started_at));
      }
      expect(body).toMatchObject({ deadline_ms: 9000, redrivable: false });

      // An order on the service's deadline is never resumed: none of its steps is recorded.
      const onService = await timeline('service-deadline', ACME);
      expect(onService.body).toMatchObject({ step_attempts: [], deadline_ms: TEST_CONFIG.orderTimeoutMs });
      expect(Date.parse(onService.body.run_started_at!)).toBeGreaterThanOrEqual(sentAt - 1000);

      expect((await timeline('own-deadline', GLOBEX)).status).toBe(404);
      await expectAtRest(svc, 2);
    } finally {
      await svc.shutdown();
    }
  });
});
