/**
 * A cancel's answer (src/http/routes/order-cancel-route.ts) once the cancel has taken effect: a busy store that turns
 * the status read away is asked again, so the cancel is answered 200 with the order's status, not 503 — a client told
 * 503 sends again a cancel that had done its work. Beside a busy machine, forty cancels at once across two instances
 * met it (durable-cancel.test.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreBusy } from '../../src/domain/errors.js';
import type { OrderDesk } from '../../src/orders/order-desk.js';
import type { OrderStatus } from '../../src/orders/order-status.js';
import { bareApp } from '../support/bare-app.js';
import { captureLog } from '../support/log-capture.js';

const CANCELED: OrderStatus = {
  orderId: 'busy-read',
  state: 'done',
  outcome: 'canceled',
  runs: 1,
  payment: { charged: 500, refunded: 500 },
  lifecycle: 'canceled',
};

/** Reads turned away before the status is read. */
let busyReads = 0;
let reads = 0;
const desk: Pick<OrderDesk, 'submit' | 'cancel' | 'redrive'> = {
  submit: () => Promise.reject(new Error('no order is sent here')),
  cancel: async () => ({ kind: 'canceled', outcome: 'canceled' }),
  redrive: () => Promise.reject(new Error('no redrive is sent here')),
};
let server: Server;
let url: URL;

beforeAll(async () => {
  const log = captureLog();
  const app = bareApp({
    orders: desk,
    orderStatus: async () => {
      reads++;
      if (reads <= busyReads) throw new StoreBusy('no Postgres connection came free in time');
      return CANCELED;
    },
    log: log.logger,
  });
  server = createServer(app);
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/orders/busy-read/cancel`);
});

afterAll(async () => {
  await new Promise((closed) => server.close(closed));
});

describe('a cancel that took effect', () => {
  it('is answered 200 with its order’s status though the store turned the first reads of it away', async () => {
    busyReads = 3;
    reads = 0;
    const answer = await fetch(url, { method: 'POST' });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ lifecycle: 'canceled', payment: { charged: 500, refunded: 500 } });
    expect(reads).toBe(4);
  });

  it('is answered 503 store_unavailable when no read gets through within its wait', async () => {
    busyReads = Number.POSITIVE_INFINITY;
    reads = 0;
    const answer = await fetch(url, { method: 'POST', headers: { prefer: 'respond-async' } });
    expect(answer.status).toBe(503);
    expect(((await answer.json()) as { error: { kind: string } }).error.kind).toBe('store_unavailable');
    expect(reads).toBeGreaterThan(1);
  });
});
