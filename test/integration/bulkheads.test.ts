/**
 * One client never takes the others down (issue 20), over real HTTP with real
 * threads: two clients keyed by API keys — acme, greedy, and globex, its
 * victim — and for each scarce resource, the greedy client holding all it
 * can while the victim's orders go through: courier slots, thread time,
 * orders in flight and the records' memory, its rate. The live view, which
 * its viewers cannot hold either, is bulkheads-live-view.test.ts: it mostly
 * waits, and runs beside the other waiting files.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import type { ThreadSnapshot } from '../../src/observability/thread-frame.js';
import {
  courierHog,
  cpuHog,
  freshOrder,
  sendOrder,
  VICTIM_PREFIX,
  type Sender,
} from '../../load/lib/client-scenarios.js';
import { openEventStream } from '../support/event-stream.js';
import { expectAtRest } from '../support/leaks.js';
import { parseSamples, sampleKey } from '../support/prometheus.js';
import { startTestService, type TestService } from '../support/service.js';
import { eventually, pause } from '../support/wait.js';
import { ACME, ADMIN, GLOBEX, TWO_CLIENTS } from '../support/two-clients.js';

const KEYS = TWO_CLIENTS;
const THREADS = 2;
const INSTANT = { payment: 0, vendor: 0, courier: 0 };

let svc: TestService | undefined;
afterEach(async () => {
  if (!svc) return;
  await expectAtRest(svc, THREADS);
  await svc.shutdown();
  svc = undefined;
});

async function serve(config: Partial<Config> = {}): Promise<{ acme: Sender; globex: Sender }> {
  svc = await startTestService({ config: { access: KEYS, threads: THREADS, ...config } });
  return { acme: { url: svc.url, key: ACME }, globex: { url: svc.url, key: GLOBEX } };
}

const adminGet = (path: string): Promise<Response> =>
  fetch(new URL(path, svc!.url), { headers: { authorization: `Bearer ${ADMIN}` } });

describe('courier slots', () => {
  it(
    'keep two of five for another client while one holds courier steps on 10 connections: its ordinary orders ≥ 95% answered 200, median under 500 ms',
    { timeout: 60_000 },
    async () => {
      const { acme, globex } = await serve();
      const running = courierHog(acme, globex, { seconds: 5 });
      await pause(3000);
      const metrics = parseSamples(await (await adminGet('/metrics')).text());
      // The same shares on the live view, client by client.
      const view = await openEventStream<ThreadSnapshot>(new URL('/threads/events', svc!.url), {
        authorization: `Bearer ${ADMIN}`,
      });
      const frame = await view.next((data) => data.clients.listed.some((client) => client.couriers_held > 0));
      view.close();
      const { victim, greedy } = await running;
      const shown = new Map(frame.clients.listed.map((client) => [client.client, client]));
      expect(frame.clients.capped).toBe(true);
      expect(shown.get('acme')?.couriers_held).toBe(3);
      expect(shown.get('acme')?.couriers_waiting).toBeGreaterThan(0);
      expect(shown.get('globex')?.couriers_held).toBeLessThanOrEqual(2);
      // Before: FIFO across clients — 4 ok and 20 × 504 of 24 (the measure); the greedy client held all 5.
      expect(victim.ok).toBeGreaterThanOrEqual(0.95);
      expect(victim.medianMs).toBeLessThan(500);
      expect(metrics.get(sampleKey('client_couriers_held', { client: 'acme' }))).toBe(3);
      expect(metrics.get(sampleKey('client_couriers_waiting', { client: 'acme' }))).toBeGreaterThan(0);
      expect(metrics.get(sampleKey('client_couriers_held', { client: 'globex' }))).toBeLessThanOrEqual(2);
      // The greedy client is served as far as its share goes: its orders end at their deadline, as they asked.
      expect(greedy.others['504']).toBe(greedy.orders);
    },
  );
});

describe('thread time', () => {
  it(
    "keeps another client's median within 2× of its median alone while one client computes on 4 connections",
    { timeout: 60_000 },
    async () => {
      const { acme, globex } = await serve();
      const view = await openEventStream<ThreadSnapshot>(new URL('/threads/events', svc!.url), {
        authorization: `Bearer ${ADMIN}`,
      });
      try {
        // 2 s each way (3 s before): the victim's orders of 60 ms, one at a time, give a median of ~30 each.
        const { alone, withHog } = await cpuHog(acme, globex, { seconds: 2 });
        // Before: 4 computing steps shared both threads; the victim's median went 16× (23.5 → 378 ms in the issue).
        expect(withHog.ok).toBe(1);
        expect(withHog.medianMs).toBeLessThanOrEqual(2 * alone.medianMs);
        // Its steps were placed on the thread without the CPU work. A victim's step that was on its thread before the
        // computing step came (the hog's next step may go to either thread) was placed rightly, and is not counted.
        let beside = 0;
        let apart = 0;
        let besideAll = 0;
        // For a failure: the other threads as the frame showed them when a victim's step was seen beside the CPU work
        // (a thread judged stalled, or full, takes no new step, and the computing one may be left).
        const others: string[] = [];
        for (const { data } of view.frames) {
          const computing = new Set(
            data.lanes.filter((lane) => lane.counts.computing > 0).map((lane) => lane.thread_id),
          );
          if (computing.size === 0) continue;
          expect(computing.size).toBe(1);
          for (const lane of data.lanes) {
            const victims = lane.steps.filter((step) => step.order_id.startsWith(VICTIM_PREFIX));
            if (!computing.has(lane.thread_id)) {
              apart += victims.length;
              continue;
            }
            besideAll += victims.length;
            const computingFor = lane.steps.filter((step) => step.activity === 'computing').map((step) => step.age_ms);
            // Not listed (a lane shows only so many steps): every victim beside it counts.
            const since = computingFor.length > 0 ? Math.max(...computingFor) : Infinity;
            const late = victims.filter((step) => step.age_ms < since);
            beside += late.length;
            if (late.length > 0)
              others.push(
                data.lanes
                  .filter((other) => !computing.has(other.thread_id))
                  .map(
                    (other) =>
                      `thread ${other.thread_id} ${other.state}, stalled ${other.stalled_ms} ms, ${other.steps_running} steps`,
                  )
                  .join(', '),
              );
          }
        }
        expect(apart).toBeGreaterThan(0);
        expect(
          beside,
          `victims' steps seen beside the CPU work: ${JSON.stringify({ beside, besideAll, apart })}; the other threads then: ${others.join('; ')}`,
        ).toBeLessThanOrEqual(apart / 10);
      } finally {
        view.close();
      }
    },
  );
});

describe('rate limits', () => {
  it('answer a client over CLIENT_RATE_LIMIT 429 with Retry-After and the RateLimit headers, before reading its body; another client in the same second is not limited', async () => {
    const { acme, globex } = await serve({ clientRateLimit: 5 });
    const started = performance.now();
    const greedy = await Promise.all(
      Array.from({ length: 8 }, () => sendOrder(acme, freshOrder({ delay_ms: INSTANT }))),
    );
    // Over the limit, even a body that is not an order is 429: it was never read.
    const unread = await sendOrder(acme, '{"not": "an order"');
    const modest = await Promise.all(
      Array.from({ length: 3 }, () => sendOrder(globex, freshOrder({ delay_ms: INSTANT }))),
    );
    expect(performance.now() - started).toBeLessThan(1000);
    expect(greedy.map((answer) => answer.status).sort()).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    for (const limited of [...greedy.filter((answer) => answer.status === 429), unread]) {
      expect(limited.status).toBe(429);
      expect(limited.body.error?.kind).toBe('rate_limited');
      expect(limited.headers.get('retry-after')).toBe('1');
      expect(limited.headers.get('ratelimit-policy')).toBe('"orders";q=5;w=1');
      expect(limited.headers.get('ratelimit')).toBe('"orders";r=0;t=1');
    }
    expect(greedy.find((answer) => answer.status === 200)!.headers.get('ratelimit')).toMatch(/^"orders";r=[0-4];t=1$/);
    expect(modest.map((answer) => answer.status)).toEqual([200, 200, 200]);
    const metrics = parseSamples(await (await adminGet('/metrics')).text());
    expect(metrics.get(sampleKey('client_orders_rate_limited_total', { client: 'acme' }))).toBe(4);
    expect(metrics.get(sampleKey('client_orders_rate_limited_total', { client: 'globex' }))).toBe(0);
  });
  it('hold a client named in CLIENT_RATE_LIMITS to its own entry instead of CLIENT_RATE_LIMIT: a tighter limit for one, none for another', async () => {
    const { acme, globex } = await serve({
      clientRateLimit: 5,
      clientRateLimits: new Map([
        ['acme', 2],
        ['globex', 0],
      ]),
    });
    const started = performance.now();
    const [tight, unlimited] = await Promise.all([
      Promise.all(Array.from({ length: 4 }, () => sendOrder(acme, freshOrder({ delay_ms: INSTANT })))),
      Promise.all(Array.from({ length: 8 }, () => sendOrder(globex, freshOrder({ delay_ms: INSTANT })))),
    ]);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(tight.map((answer) => answer.status).sort()).toEqual([200, 200, 429, 429]);
    for (const answer of tight) expect(answer.headers.get('ratelimit-policy')).toBe('"orders";q=2;w=1');
    // 0: no limit for globex, though the others' is 5 — and no RateLimit headers, as nothing is counted.
    expect(unlimited.map((answer) => answer.status)).toEqual(Array(8).fill(200));
    expect(unlimited.every((answer) => answer.headers.get('ratelimit-policy') === null)).toBe(true);
  });
});

describe('every route', () => {
  it("holds a client's requests to its budget (CLIENT_REQUEST_RATE_LIMIT): 64 connections of cancels get 50 a second answered, the rest 429 once their second ends; another client is not limited", async () => {
    const { acme, globex } = await serve({ clientRequestRateLimit: 50 });
    const cancel = async (): Promise<Response> => {
      const response = await fetch(new URL('/orders/nothing/cancel', svc!.url), {
        method: 'POST',
        headers: { authorization: `Bearer ${acme.key}` },
      });
      await response.arrayBuffer();
      return response;
    };
    const statuses: Record<number, number> = {};
    let limited: Response | undefined;
    const started = performance.now();
    const until = started + 2000;
    const victim: number[] = [];
    await Promise.all([
      ...Array.from({ length: 64 }, async () => {
        while (performance.now() < until) {
          const answer = await cancel();
          statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
          if (answer.status === 429) limited = answer;
        }
      }),
      (async () => {
        while (performance.now() < until) {
          const read = await fetch(new URL('/orders/nothing', svc!.url), {
            headers: { authorization: `Bearer ${globex.key}` },
          });
          await read.arrayBuffer();
          victim.push(read.status);
          await pause(50);
        }
      })(),
    ]);
    const seconds = (performance.now() - started) / 1000;
    const served = (statuses[404] ?? 0) / seconds;
    console.log('64 connections of cancels:', JSON.stringify({ statuses, servedPerSecond: Math.round(served) }));
    // Before: unmetered, 1,800-3,000 a second (the issue). A fixed window lets up to twice the budget across its edge.
    expect(served).toBeLessThanOrEqual(2 * 50);
    expect(statuses[429]).toBeGreaterThan(0);
    expect(limited!.headers.get('retry-after')).toBe('1');
    expect(limited!.headers.get('ratelimit-policy')).toBe('"requests";q=50;w=1');
    expect(limited!.headers.get('ratelimit')).toBe('"requests";r=0;t=1');
    // Each client its own budget: globex's reads meanwhile were never refused for acme's.
    expect(victim.filter((status) => status !== 404)).toEqual([]);
  });
});

describe('orders in flight and record memory', () => {
  it("shed only the greedy client once it holds its share of the orders in flight (5 of MAX_INFLIGHT 10: at most 6, less the floor kept for the other, idle client — issue 25); the other's orders run", async () => {
    // A deadline far past the greedy orders' 1.5 s: the default 2 s left half a second, and beside busy loops only 2
    // of the 5 admitted were answered 200.
    const { acme, globex } = await serve({ maxInflight: 10, orderTimeoutMs: 10_000 });
    const greedy = Array.from({ length: 10 }, () =>
      sendOrder(acme, freshOrder({ delay_ms: { payment: 1500, vendor: 0, courier: 0 } })),
    );
    await eventually(
      () => svc!.health(),
      (health) => health.orders_in_flight === 5,
    );
    const modest = await Promise.all(
      Array.from({ length: 3 }, () => sendOrder(globex, freshOrder({ delay_ms: INSTANT }))),
    );
    // Before: the greedy client's 10 filled MAX_INFLIGHT, and these were shed.
    expect(modest.map((answer) => answer.status)).toEqual([200, 200, 200]);
    const answers = await Promise.all(greedy);
    const shed = answers.filter((answer) => answer.status === 503);
    expect(answers.map((answer) => answer.status).sort()).toEqual([...Array(5).fill(200), ...Array(5).fill(503)]);
    for (const answer of shed) {
      expect(answer.body.error?.kind).toBe('overloaded');
      expect(answer.body.error?.message).toMatch(/^client acme has 5 orders in flight: its whole share/);
      expect(answer.headers.get('retry-after')).toBe('1');
    }
    const metrics = parseSamples(await (await adminGet('/metrics')).text());
    expect(metrics.get(sampleKey('client_orders_shed_total', { client: 'acme', share: 'orders_in_flight' }))).toBe(5);
  });

  it(
    "shed only the greedy client once its records fill its share of ORDER_RECORDS_MAX_MB; the other's orders are recorded",
    { timeout: 60_000 },
    async () => {
      const { acme, globex } = await serve({ orderRecordsMaxBytes: 256 * 1024, clientRateLimit: 0 });
      let shed: Awaited<ReturnType<typeof sendOrder>> | undefined;
      let accepted = 0;
      while (!shed && accepted < 5000) {
        const batch = await Promise.all(
          Array.from({ length: 20 }, () => sendOrder(acme, freshOrder({ delay_ms: INSTANT }))),
        );
        accepted += batch.filter((answer) => answer.status === 200).length;
        shed = batch.find((answer) => answer.status === 503);
      }
      expect(shed?.body.error?.message).toMatch(
        /^what is kept of client acme's orders fills its whole share of the order records' memory/,
      );
      const modest = await Promise.all(
        Array.from({ length: 5 }, () => sendOrder(globex, freshOrder({ delay_ms: INSTANT }))),
      );
      // Before: the greedy client's records filled all of ORDER_RECORDS_MAX_MB, and these were shed.
      expect(modest.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200]);
      const metrics = parseSamples(await (await adminGet('/metrics')).text());
      const acmeBytes = metrics.get(sampleKey('client_order_record_bytes', { client: 'acme' }))!;
      expect(acmeBytes).toBeLessThanOrEqual(0.6 * 256 * 1024);
      expect(acmeBytes).toBeGreaterThan(0.5 * 256 * 1024);
      expect(metrics.get(sampleKey('client_order_record_bytes', { client: 'globex' }))).toBeGreaterThan(0);
    },
  );
});
