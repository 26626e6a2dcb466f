/**
 * What the tests of a thread's death share: a service on one thread by default, its warnings for a failure to tell,
 * well-behaved neighbours already running when a bad order arrives, and the checks that they were run again, that the
 * lost thread was replaced, and where the money went. test/integration/thread-death.test.ts (the quick suite) and
 * test/integration/faults.test.ts (the long one) use it.
 */
import { afterEach, expect } from 'vitest';
import type { Config } from '../../src/config.js';
import type { StepDefinition } from '../../src/pipeline/steps.js';
import { expectAtRest } from './leaks.js';
import { captureLog, type CapturedLog } from './log-capture.js';
import { orderBody, stepsOf } from './orders.js';
import { parseSamples, sampleKey } from './prometheus.js';
import { startTestService, type TestService } from './service.js';
import { eventually } from './wait.js';

/**
 * The neighbours' steps: they must still run when the thread dies, or none is run again and the test fails saying so.
 * With 400 ms, the time from their steps' start to the bad order's arrival (the wait for every neighbour to be past its
 * payment, polled) and its death outlasted them beside busy cores, where the thread dies at once (2 runs of 12), and
 * more so where it dies only after a canceled step's grace (250 ms after the fault shows; a fresh clone's cores). Their
 * orders get NEIGHBOURS_DEADLINE_MS: run twice, such steps outlast the default 2 s.
 */
const OUTLASTS_DEATH_MS = 1200;
export const NEIGHBOURS_DEADLINE_MS = 10_000;

/** The file's one service at a time, with its log captured; shut after each test. */
export interface FaultyServices {
  readonly start: (config?: Partial<Config>, steps?: readonly StepDefinition[]) => Promise<TestService>;
  /** The service's warnings — how its threads died, and why — for a failure to tell. */
  readonly warnings: () => string;
}

export function faultyServices(): FaultyServices {
  let svc: TestService | undefined;
  let log: CapturedLog | undefined;
  afterEach(async () => {
    await svc?.shutdown();
    svc = undefined;
  });
  return {
    start: async (config = {}, steps) => {
      log = captureLog();
      svc = await startTestService({
        config: { threads: 1, ...config },
        logger: log.logger,
        ...(steps ? { steps } : {}),
      });
      return svc;
    },
    warnings: () => {
      const lines = (log?.lines ?? []).filter((line) => Number(line['level']) >= 40);
      return `the service's warnings:\n${lines.map((line) => JSON.stringify(line)).join('\n')}`;
    },
  };
}

/** Well-behaved orders already running on the thread when the bad one arrives: their ids, and their answers to come. */
export function startNeighbours(service: TestService, count = 4) {
  const bodies = Array.from({ length: count }, () =>
    orderBody({ delay_ms: { payment: 0, vendor: OUTLASTS_DEATH_MS, courier: OUTLASTS_DEATH_MS } }),
  );
  return { ids: bodies.map((body) => body['order_id'] as string), answers: bodies.map((body) => service.order(body)) };
}

export type Neighbours = ReturnType<typeof startNeighbours>;

/**
 * Until every neighbour has been charged (its payment ended) and its vendor and courier run: a payment still under
 * way when its thread dies is in doubt, and its order rightly fails `thread_lost` rather than risk a second charge.
 * After a fixed 50 ms, beside busy cores, one had not ended yet; and a count of running steps alone (four orders,
 * eight steps) was also met by two orders running all three steps and one whose steps had not started, so a
 * neighbour failed `thread_lost` (1 run in 3 beside two busy loops).
 */
export async function untilNeighboursPastPayment(service: TestService, { ids }: Neighbours): Promise<void> {
  await eventually(
    () => Promise.all(ids.map((id) => moneyOf(service, id).catch(() => undefined))),
    (money) => money.every((paid) => paid?.charged === 1200),
    { within: 5000, every: 5 },
  );
  await eventually(
    () => service.health(),
    (health) => health.orders_in_flight === ids.length && health.running_steps === 2 * ids.length,
    { within: 5000, every: 5 },
  );
}

export async function expectNeighboursUnharmed(
  { answers: neighbours }: Neighbours,
  warnings: () => string,
): Promise<void> {
  const answers = await Promise.all(neighbours);
  for (const { status, body } of answers)
    expect({ status, error: body.error }, warnings()).toEqual({ status: 200, error: undefined });
  const reran = answers.flatMap(({ body }) => body.steps ?? []).filter((step) => step.attempts === 2);
  expect(reran.length).toBeGreaterThan(0);
}

export async function expectThreadsReplaced(
  service: TestService,
  cause: 'died' | 'terminated',
  count = 1,
  threads = 1,
): Promise<void> {
  await expectAtRest(service, threads);
  expect((await service.health()).threads_replaced).toBe(count);
  const metrics = parseSamples(await (await fetch(new URL('/metrics', service.url))).text());
  expect(metrics.get(sampleKey('worker_threads_replaced_total', { cause }))).toBe(count);
}

/** What GET /orders/{order_id} says of the money. */
export async function moneyOf(service: TestService, orderId: string): Promise<{ charged: number; refunded: number }> {
  const response = await fetch(new URL(`/orders/${encodeURIComponent(orderId)}`, service.url));
  return ((await response.json()) as { payment: { charged: number; refunded: number } }).payment;
}

/**
 * A payment that commits `fault` after its charge reached the provider, while neighbours run on its thread: its own
 * order fails 500 `internal` with its payment voided, the thread is replaced, and the neighbours run again and succeed.
 */
export async function expectCulpritAloneFails(
  { start, warnings }: FaultyServices,
  fault: 'crash' | 'reject' | 'exit' | 'oom',
  config: Partial<Config> = {},
): Promise<void> {
  // The neighbours' steps run twice, and the second run waits for the thread's death: an isolate running out of heap
  // collects again and again before it gives up, and on a slow machine in a full run a neighbour outlasted the default
  // 2 s deadline waiting for it (504 timeout), though it was run again and would have succeeded.
  const service = await start({ orderTimeoutMs: NEIGHBOURS_DEADLINE_MS, ...config });
  const neighbours = startNeighbours(service);
  await untilNeighboursPastPayment(service, neighbours);
  const order = orderBody({ delay_ms: { payment: 20, vendor: 1000, courier: 1000 }, faults: { payment: fault } });
  const { status, body } = await service.order(order);
  expect(status).toBe(500);
  expect(body.error).toEqual({ kind: 'internal', message: 'order failed' });
  const steps = stepsOf(body);
  expect(steps['payment']).toMatchObject({ status: 'error', detail: 'internal', thread_fate: 'died' });
  for (const name of ['vendor', 'courier'])
    expect(steps[name]).toMatchObject({ status: 'canceled', detail: 'canceled: internal' });
  expect(body.compensations).toEqual([expect.objectContaining({ name: 'refund', status: 'ok' })]);
  expect(JSON.stringify(body)).not.toContain('injected fault');
  await expectNeighboursUnharmed(neighbours, warnings);
  await expectThreadsReplaced(service, 'died');
  expect(await moneyOf(service, order['order_id'] as string)).toEqual({ charged: 1200, refunded: 1200 });
}
