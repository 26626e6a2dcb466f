/**
 * The order route answers its own failures (src/http/routes/order-route.ts): a desk that fails is answered as the app's one
 * error handler answers any route's failure — a store's kinds as they are, anything else 500 internal, logged — and
 * the connection goes on serving. The route hands Express no promise, so this is not Express's doing.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailable } from '../../src/domain/errors.js';
import type { OrderDesk } from '../../src/orders/order-desk.js';
import { bareApp } from '../support/bare-app.js';
import { captureLog, type CapturedLog } from '../support/log-capture.js';
import { orderBody } from '../support/orders.js';

let failure: unknown;
const desk: Pick<OrderDesk, 'submit' | 'cancel' | 'redrive'> = {
  submit: () => Promise.reject(failure),
  cancel: () => Promise.reject(new Error('no cancel is sent here')),
  redrive: () => Promise.reject(new Error('no redrive is sent here')),
};
let log: CapturedLog;
let server: Server;
let url: URL;

beforeAll(async () => {
  log = captureLog();
  const app = bareApp({
    orders: desk,
    orderStatus: async () => undefined,
    log: log.logger,
  });
  server = createServer(app);
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/order`);
});

afterAll(async () => {
  await new Promise((closed) => server.close(closed));
});

async function post(orderId: string): Promise<{ status: number; body: { error?: { kind: string } } }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(orderBody({ order_id: orderId })),
  });
  return { status: response.status, body: (await response.json()) as { error?: { kind: string } } };
}

describe('an order whose desk fails', () => {
  it('is answered 500 internal, and the failure is logged with the request', async () => {
    failure = new Error('the desk broke');
    const { status, body } = await post('broken-1');
    expect(status).toBe(500);
    expect(body.error?.kind).toBe('internal');
    const line = log.lines.find((entry) => entry['msg'] === 'request failed');
    expect(line?.['err']).toMatchObject({ message: 'the desk broke' });
  });

  it("is answered with the store's kind when the store is what failed, never a 500", async () => {
    failure = new StoreUnavailable('gone');
    const { status, body } = await post('broken-2');
    expect(status).toBe(503);
    expect(body.error?.kind).toBe('store_unavailable');
  });
});
