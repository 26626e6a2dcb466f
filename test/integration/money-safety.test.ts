/**
 * Never lose money, never answer wrong: the paths where a client leaves, a
 * retry meets a run being wound down, or the server shuts down under an
 * order — each leaves the payment provider's books balanced, and every
 * connected client gets an answer of its own.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { expectAtRest } from '../support/leaks.js';
import { captureLog, type CapturedLog } from '../support/log-capture.js';
import { orderBody, stepsOf } from '../support/orders.js';
import { startTestService, type TestService } from '../support/service.js';
import { eventually, pause } from '../support/wait.js';
import { readFollowingRetryAfter } from '../support/http.js';

let svc: TestService | undefined;
let log: CapturedLog;
afterEach(async () => {
  if (svc) await expectAtRest(svc, 2);
  await svc?.shutdown();
  svc = undefined;
});

async function start(config: Partial<Config> = {}): Promise<TestService> {
  log = captureLog();
  svc = await startTestService({ config: { threads: 2, ...config }, logger: log.logger });
  return svc;
}

interface OrderStatusJson {
  state: string;
  runs: number;
  outcome: { http_status: number; kind: string } | null;
  payment: { charged: number; refunded: number };
}

async function orderStatus(service: TestService, orderId: string): Promise<OrderStatusJson> {
  const found = await recordOf(service, orderId);
  expect(found, `a record of ${orderId}`).toBeDefined();
  return found!;
}

/** The record, or undefined while the service has none (the order has not reached it yet). */
async function recordOf(service: TestService, orderId: string): Promise<OrderStatusJson | undefined> {
  const response = await readFollowingRetryAfter(new URL(`/orders/${encodeURIComponent(orderId)}`, service.url));
  return response.status === 404 ? undefined : ((await response.json()) as OrderStatusJson);
}

/** Once the order's payment has been charged. */
const whenCharged = (service: TestService, orderId: string) =>
  eventually(
    () => recordOf(service, orderId),
    (status) => status?.payment.charged === 1200,
  );

describe('GET /orders/{order_id}', () => {
  it('follows an order from running to done, with the money over its runs', async () => {
    const service = await start();
    // The vendor's 1.5 s is the window in which the order is seen running, charged: 300 ms once closed before a full
    // CI run's busy machine had polled the charge and asked for the status.
    const order = orderBody({ order_id: 'followed', delay_ms: { payment: 0, vendor: 1500, courier: 0 } });
    const answer = service.order(order);
    await whenCharged(service, 'followed');
    expect(await orderStatus(service, 'followed')).toEqual({
      order_id: 'followed',
      tier: 'standard',
      state: 'running',
      lifecycle: 'running',
      runs: 1,
      outcome: null,
      payment: { charged: 1200, refunded: 0 },
    });
    expect((await answer).status).toBe(200);
    expect(await orderStatus(service, 'followed')).toEqual({
      order_id: 'followed',
      tier: 'standard',
      state: 'done',
      lifecycle: 'succeeded',
      runs: 1,
      outcome: { http_status: 200, kind: 'ok' },
      payment: { charged: 1200, refunded: 0 },
    });
  });

  it('is 404 not_found for an order the service has no record of', async () => {
    const service = await start();
    const response = await fetch(new URL('/orders/never-sent', service.url));
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      status: 'error',
      error: { kind: 'not_found', message: 'no record of order never-sent' },
    });
  });
});

describe('a retry arriving while a run its callers all left is being wound down', () => {
  it('gets a run of its own — never the 499 meant for callers who are gone', async () => {
    const service = await start();
    // Paid at once; the vendor takes 1 s; leaving cancels it, and voiding the payment takes 400 ms.
    const order = orderBody({
      order_id: 'wound-down',
      delay_ms: { payment: 0, vendor: 1000, courier: 0, refund: 400 },
    });
    const leaving = new AbortController();
    const gone = service.order(order, { signal: leaving.signal }).catch(() => 'gone');
    await whenCharged(service, 'wound-down');
    leaving.abort();
    expect(await gone).toBe('gone');
    // The refund is running: the run is winding down.
    await eventually(
      () => service.health(),
      (health) => health.running_steps === 1,
    );
    const { status, body } = await service
      .order({ ...order, delay_ms: { payment: 0, vendor: 50, courier: 0, refund: 400 } })
      .catch(() => ({ status: 0, body: {} }));
    // A different order under the same id is still refused...
    expect(status).toBe(422);
    expect(body).toMatchObject({ error: { kind: 'idempotency_key_reuse' } });
    const retried = await service.order(order);
    // ...and the same order runs again, as run 2.
    expect(retried.status).toBe(200);
    expect(await orderStatus(service, 'wound-down')).toMatchObject({
      state: 'done',
      runs: 2,
      outcome: { http_status: 200, kind: 'ok' },
      payment: { charged: 2400, refunded: 1200 },
    });
  });
});

describe('an order whose client left and whose payment could not be voided', () => {
  it('is logged at error level, naming the order, for a person to follow up', async () => {
    const service = await start();
    const order = orderBody({
      order_id: 'left-unpaid',
      fail_compensation: true,
      delay_ms: { payment: 0, vendor: 2000, courier: 0 },
    });
    const leaving = new AbortController();
    const gone = service.order(order, { signal: leaving.signal }).catch(() => 'gone');
    await whenCharged(service, 'left-unpaid');
    leaving.abort();
    expect(await gone).toBe('gone');
    const line = await eventually(
      async () => log.lines.find((entry) => entry['order_id'] === 'left-unpaid' && entry['level'] === 50),
      (found) => found !== undefined,
    );
    expect(line).toMatchObject({
      amount: 1200,
      run: 1,
      msg: 'order failed and its payment could not be voided: a person must look',
    });
    expect(await orderStatus(service, 'left-unpaid')).toMatchObject({
      outcome: { kind: 'compensation_failed' },
      payment: { charged: 1200, refunded: 0 },
    });
  });
});

describe('shutdown', () => {
  it('admits no order whose body finishes arriving after draining began: 503 shutting_down, nothing runs', async () => {
    const service = await start();
    const body = JSON.stringify(orderBody({ order_id: 'late-body' }));
    const socket = connect(Number(service.url.port), service.url.hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    // The whole head, then a pause: the request is under way before the drain.
    socket.write(
      `POST /order HTTP/1.1\r\nHost: ${service.url.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    await pause(100);
    const stopped = service.shutdown();
    await pause(50);
    let reply = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (reply += chunk));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(body);
    await closed;
    expect(reply).toMatch(/^HTTP\/1\.1 503 /);
    expect(reply).toMatch(/\r\nRetry-After: 1\r\n/i);
    expect(reply).toContain('"kind":"shutting_down"');
    await stopped;
    expect(service.service.health()).toMatchObject({ running_steps: 0, orders_in_flight: 0 });
    svc = undefined;
  });

  it('answers a request sent a moment before the drain began, not yet read: 503 shutting_down, never a reset', async () => {
    const service = await start();
    const body = JSON.stringify(orderBody({ order_id: 'unread' }));
    const socket = connect(Number(service.url.port), service.url.hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    await pause(50);
    let reply = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (reply += chunk));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    // Sent, and the drain begins in the same turn: the server has not read a byte of it yet.
    socket.write(
      `POST /order HTTP/1.1\r\nHost: ${service.url.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    const stopped = service.shutdown();
    await closed;
    expect(reply).toMatch(/^HTTP\/1\.1 503 /);
    expect(reply).toContain('"kind":"shutting_down"');
    await stopped;
    svc = undefined;
  });

  it('cancels what would outlive it early enough for every payment to be voided before the pool closes', async () => {
    // 1,750 ms is the least SHUTDOWN_TIMEOUT_MS allows with these settings: 2 × 250 + 1,000 + 250.
    const service = await start({ shutdownTimeoutMs: 1750, orderTimeoutMs: 30_000 });
    const orders = Array.from({ length: 3 }, (_, i) =>
      orderBody({
        order_id: `at-shutdown-${i}`,
        delay_ms: { payment: 0, vendor: 10_000, courier: 10_000, refund: 800 },
      }),
    );
    const answers = orders.map((order) => service.order(order));
    // Every order charged first, then its two sleeping steps running: six running steps alone were also two orders'
    // three each before their payments ended, with the third order not yet connected — on a busy machine it then met
    // a closed listener (ECONNREFUSED, 1 quiet run in 4).
    await Promise.all(orders.map((order) => whenCharged(service, order['order_id'] as string)));
    await eventually(
      () => service.health(),
      (health) => health.running_steps === 6,
    );
    const stopped = service.shutdown();
    for (const { status, body } of await Promise.all(answers)) {
      expect(status).toBe(503);
      expect(body.error?.kind).toBe('shutting_down');
      expect(stepsOf(body)['payment']?.status).toBe('ok');
      expect(body.compensations).toEqual([expect.objectContaining({ name: 'refund', status: 'ok' })]);
    }
    await stopped;
    svc = undefined;
  });
});
