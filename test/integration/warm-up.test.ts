/**
 * The warm-up before the service listens (WARM_UP_MS) leaves no trace: its
 * orders ran on the real step threads, yet the books, the records, the
 * events, the metrics and the clients are as a service that never warmed up
 * has them — in memory and in Postgres — and the first real order is the
 * first the books see.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import type { WarmUpFigures } from '../../src/warm-up/warm-up-orders.js';
import { captureLog } from '../support/log-capture.js';
import { expectAtRest } from '../support/leaks.js';
import { orderBody } from '../support/orders.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  sql,
  startTestPostgres,
  type TestPostgres,
} from '../support/postgres.js';
import { sampleKey, type Samples, scrapeSettled } from '../support/prometheus.js';
import { startTestService, type TestService } from '../support/service.js';

const WARM_UP_MS = 400;
const ACME = 'acme_key_0123456789abcdefghijklmnopqrstuv';
const GLOBEX = 'globex_key_0123456789abcdefghijklmnopqrs';
const ADMIN = 'admin_key_ZYXWVUTSRQPONMLKJIHGFEDCBA0123';

let svc: TestService | undefined;
afterEach(async () => {
  await svc?.service.shutdown();
  svc = undefined;
});

interface Warmed {
  readonly svc: TestService;
  readonly warmed: WarmUpFigures | undefined;
  readonly lines: ReadonlyArray<Record<string, unknown>>;
}

async function startWarmed(config: Partial<Config> = {}): Promise<Warmed> {
  const log = captureLog();
  svc = await startTestService({ config: { warmUpMs: WARM_UP_MS, ...config }, logger: log.logger });
  return { svc, warmed: svc.service.warmedUp, lines: log.lines };
}

async function get(service: TestService, path: string, key?: string): Promise<Response> {
  return fetch(new URL(path, service.url), key ? { headers: { authorization: `Bearer ${key}` } } : {});
}

const metrics = (service: TestService, key?: string): Promise<Samples> =>
  scrapeSettled(service.url, key ? { authorization: `Bearer ${key}` } : {});

/** Every sample of a client, by client: who the metrics know. */
const clientsIn = (samples: Samples): Set<string> =>
  new Set([...samples.keys()].flatMap((key) => [...key.matchAll(/client="([^"]*)"/g)].map((m) => m[1]!)));

/** The warm-up ran: many orders, each answered as meant (200, or 400 for the declined payments it asks for). */
function expectRan(warmed: WarmUpFigures | undefined): void {
  expect(warmed?.orders).toBeGreaterThan(20);
  expect(Object.keys(warmed!.statuses).sort()).toEqual(['200', '400']);
}

describe('in memory', () => {
  it('keeps nothing of its orders: books, records, events and metrics are empty, and the first real order is the first they see', async () => {
    const { svc: service, warmed } = await startWarmed();
    expectRan(warmed);
    await expectAtRest(service, 2);
    const before = await metrics(service);
    for (const outcome of ['charged', 'declined', 'refunded', 'refund_refused'])
      expect(before.get(sampleKey('payments_total', { outcome })) ?? 0, outcome).toBe(0);
    expect(before.get('order_records')).toBe(0);
    expect(before.get('money_at_risk')).toBe(0);
    expect([...before.keys()].filter((key) => key.startsWith('orders_total'))).toEqual([]);
    expect((await get(service, '/orders/warm-up-0')).status).toBe(404);
    expect(await (await get(service, '/events')).json()).toMatchObject({ events: [] });

    const { status } = await service.order(orderBody({ order_id: 'warm-up-1' }));
    expect(status).toBe(200);
    const after = await metrics(service);
    expect(after.get(sampleKey('payments_total', { outcome: 'charged' }))).toBe(1);
    expect(after.get('order_records')).toBe(1);
    expect((await (await get(service, '/events')).json()) as { events: unknown[] }).toMatchObject({
      events: [{ type: 'order.succeeded' }],
    });
    await expectAtRest(service, 2);
  });

  it('with keys, places its orders as the first client API_KEYS names: the metrics know no client the keys do not', async () => {
    const access = {
      mode: 'keys' as const,
      clients: [
        { client: 'acme', key: ACME },
        { client: 'globex', key: GLOBEX },
      ],
      adminKeys: [ADMIN],
    };
    const { svc: service, warmed } = await startWarmed({ access });
    expectRan(warmed);
    const samples = await metrics(service, ADMIN);
    expect([...clientsIn(samples)].sort()).toEqual(['acme', 'globex']);
    expect((await get(service, '/orders/warm-up-0', ACME)).status).toBe(404);
    expect(samples.get('order_records')).toBe(0);
    await expectAtRest(service, 2);
  });

  it('with keys from Postgres alone (no API_KEYS), is skipped rather than add a client, and says so', async () => {
    const {
      svc: service,
      warmed,
      lines,
    } = await startWarmed({
      access: { mode: 'keys', clients: [], adminKeys: [ADMIN] },
    });
    expect(warmed).toBeUndefined();
    expect(lines.map((line) => line['msg'])).toContain(
      'no warm-up: no client is configured to place its orders as (API_KEYS)',
    );
    expect((await service.order(orderBody(), { key: ADMIN })).status).toBe(200);
    await expectAtRest(service, 2);
  });
});

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`on Postgres${POSTGRES_SKIPPED}`, () => {
  let postgres: TestPostgres | undefined;
  beforeAll(async () => {
    postgres = await startTestPostgres();
  });
  afterAll(async () => {
    await postgres?.stop();
  });

  it('writes no row: no order, payment or event; the courier slots are taken after it, and the first real order runs', async () => {
    const databaseUrl = await freshDatabase(postgres!);
    const { svc: service, warmed } = await startWarmed({ durable: { databaseUrl, leaseMs: 3000, poolSize: 4 } });
    expectRan(warmed);
    const count = async (table: string): Promise<number> =>
      Number((await sql<{ n: string }>(databaseUrl, `SELECT count(*) AS n FROM ${table}`))[0]!.n);
    expect({
      orders: await count('orders'),
      payments: await count('provider_payments'),
      events: await count('events'),
    }).toEqual({ orders: 0, payments: 0, events: 0 });

    expect((await service.order(orderBody())).status).toBe(200);
    expect({ orders: await count('orders'), payments: await count('provider_payments') }).toEqual({
      orders: 1,
      payments: 1,
    });
    await expectAtRest(service, 2);
  });
});
