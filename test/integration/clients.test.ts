/**
 * Who is asking, over real HTTP: API keys (Bearer, and Basic for a browser
 * on the admin pages), the admin surface nobody else reaches, the public
 * probes, the Host check against DNS rebinding, and the security headers on
 * every response.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequestFollowingRetryAfter, rawRequest, type RawResponse } from '../support/http.js';
import { captureLog } from '../support/log-capture.js';
import { expectAtRest } from '../support/leaks.js';
import { orderBody } from '../support/orders.js';
import { startTestService, type TestService } from '../support/service.js';

const ACME = 'acme_key_0123456789abcdefghijklmnopqrstuv';
const GLOBEX = 'globex-key-0123456789ABCDEFGHIJKLMNOPQRS';
const ADMIN = 'admin_key_ZYXWVUTSRQPONMLKJIHGFEDCBA0123';
const JSON_TYPE = { 'content-type': 'application/json' };
const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
const basic = (key: string): Record<string, string> => ({
  authorization: `Basic ${Buffer.from(`anyone:${key}`).toString('base64')}`,
});

const NOBODYS = 'nobody_0123456789abcdefghijklmnopqrstuvw';
/** Every line the service logs in this file, read by the last test. */
const log = captureLog();

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({
    logger: log.logger,
    config: {
      access: {
        mode: 'keys',
        clients: [
          { client: 'acme', key: ACME },
          { client: 'globex', key: GLOBEX },
        ],
        adminKeys: [ADMIN],
      },
    },
  });
});
afterAll(async () => {
  await expectAtRest(svc, 2);
  await svc.shutdown();
});

/** A read turned away 503 with Retry-After (the loop late beside busy cores) is asked again when it says. */
const get = (path: string, headers: Record<string, string> = {}): Promise<RawResponse> =>
  rawRequestFollowingRetryAfter(svc.url, { method: 'GET', path, headers });
const post = (body: unknown, headers: Record<string, string> = {}): Promise<RawResponse> =>
  rawRequest(svc.url, { headers: { ...JSON_TYPE, ...headers }, body: JSON.stringify(body) });
const kindOf = (response: RawResponse): string | undefined =>
  (response.json() as { error?: { kind: string } }).error?.kind;

describe('API keys', () => {
  it.each([
    ['no Authorization header', {}],
    ['a key nobody was issued', bearer(NOBODYS)],
    ['a key too short to be one', bearer('short')],
    ['a scheme this service does not read', { authorization: `Token ${ACME}` }],
    ['Basic with no password', { authorization: `Basic ${Buffer.from('acme').toString('base64')}` }],
  ])('%s: 401 unauthorized in the JSON contract, with the challenges, and no step started', async (_name, headers) => {
    const response = await post(orderBody(), headers);
    expect(response.status).toBe(401);
    expect(kindOf(response)).toBe('unauthorized');
    // Each scheme in a header of its own: Chromium, given both in one, never offers Basic credentials.
    expect(response.headersDistinct?.['www-authenticate']).toEqual([
      'Bearer realm="order-threads"',
      'Basic realm="order-threads", charset="UTF-8"',
    ]);
    expect(response.text).not.toContain(ACME);
  });

  it("a client's key, as Bearer or as Basic's password: its order runs", async () => {
    expect((await post(orderBody(), bearer(ACME))).status).toBe(200);
    expect((await post(orderBody(), basic(GLOBEX))).status).toBe(200);
  });
});

describe('the admin surface', () => {
  it.each(['/threads', '/threads/events', '/metrics'])(
    '%s: 401 without a key, 403 forbidden with a client key',
    async (path) => {
      const without = await get(path);
      expect(without.status).toBe(401);
      expect(kindOf(without)).toBe('unauthorized');
      // What a browser shows once its dialog is canceled: what the page wants.
      expect((without.json() as { error: { message: string } }).error.message).toContain(
        `${path} is the admin's: it needs the admin key (ADMIN_KEY)`,
      );
      const client = await get(path, bearer(ACME));
      expect(client.status).toBe(403);
      expect(kindOf(client)).toBe('forbidden');
    },
  );

  it('the admin reaches it by Bearer, and a browser by Basic with the admin key as the password', async () => {
    const metrics = await get('/metrics', bearer(ADMIN));
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('orders_total');
    const page = await get('/threads', basic(ADMIN));
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
  });

  it('an order carrying faults needs the admin key: 403 with a client key, run with the admin key', async () => {
    const faulty = orderBody({ faults: { vendor: 'reject' } });
    const client = await post(faulty, bearer(ACME));
    expect(client.status).toBe(403);
    expect(kindOf(client)).toBe('forbidden');
    // Run: the fault strikes on its thread, and the order fails as a fault's order does.
    const admin = await post(orderBody({ faults: { vendor: 'reject' } }), bearer(ADMIN));
    expect([admin.status, kindOf(admin)]).toEqual([500, 'internal']);
  });

  it("the admin's own order, beside configured clients that are idle, is answered 200: it is a client of its own", async () => {
    const response = await post(orderBody(), bearer(ADMIN));
    expect(response.status).toBe(200);
    expect((response.json() as { status: string }).status).toBe('ok');
  });
});

describe('what stays public', () => {
  it.each(['/healthz', '/readyz', '/openapi.json'])('%s answers without a key', async (path) => {
    expect((await get(path)).status).toBe(200);
  });

  it('/healthz says whether fault injection is on and how callers are known', async () => {
    expect((await get('/healthz')).json()).toMatchObject({ fault_injection: true, access: 'keys' });
  });
});

describe('what a browser must not be able to do', () => {
  it('a request addressed to another host (DNS rebinding) is 421 misdirected_request, before any key is looked at', async () => {
    for (const host of ['attacker.example', 'attacker.example:8080', '127.0.0.2']) {
      const response = await rawRequest(svc.url, {
        headers: { ...JSON_TYPE, ...bearer(ACME), host },
        body: JSON.stringify(orderBody()),
      });
      expect(response.status, host).toBe(421);
      expect(kindOf(response)).toBe('misdirected_request');
    }
    for (const host of ['localhost', `localhost:${svc.url.port}`, '127.0.0.1', 'LOCALHOST']) {
      expect(
        (await rawRequest(svc.url, { method: 'GET', path: '/openapi.json', headers: { host } })).status,
        host,
      ).toBe(200);
    }
  });

  it('the probes answer whatever Host they are sent with (a load balancer probes by address)', async () => {
    for (const path of ['/healthz', '/readyz'])
      expect((await rawRequest(svc.url, { method: 'GET', path, headers: { host: '10.1.2.3:8080' } })).status).toBe(200);
  });

  it("an API's answer is never sniffed and carries no page's headers; a page may not be framed and runs only its own scripts", async () => {
    for (const response of [
      await post(orderBody(), bearer(ACME)),
      await get('/healthz'),
      await get('/nowhere'),
      await post(orderBody()),
    ]) {
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['content-security-policy']).toBeUndefined();
      expect(response.headers['x-frame-options']).toBeUndefined();
    }
    const page = await get('/threads', bearer(ADMIN));
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.headers['x-frame-options']).toBe('SAMEORIGIN');
    const policy = page.headers['content-security-policy'] ?? '';
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+' 'sha256-[A-Za-z0-9+/=]+'/);
    expect(policy).not.toContain('unsafe');
  });
});

describe("each client's own orders", () => {
  const status = async (
    orderId: string,
    key: string,
  ): Promise<{ status: number; body: { payment?: { charged: number } } }> => {
    const response = await get(`/orders/${orderId}`, bearer(key));
    return { status: response.status, body: response.json() as { payment?: { charged: number } } };
  };

  it('two clients use one order_id independently: two orders, each charged its own amount, each reading its own', async () => {
    const shared = `shared-${Date.now()}`;
    const fromAcme = await post({ order_id: shared, amount: 100 }, bearer(ACME));
    const fromGlobex = await post({ order_id: shared, amount: 250 }, bearer(GLOBEX));
    // Neither is the other's replay nor a reuse of its key.
    expect([fromAcme.status, fromGlobex.status]).toEqual([200, 200]);
    expect(fromGlobex.headers['idempotent-replayed']).toBeUndefined();
    expect(await status(shared, ACME)).toMatchObject({ status: 200, body: { payment: { charged: 100 } } });
    expect(await status(shared, GLOBEX)).toMatchObject({ status: 200, body: { payment: { charged: 250 } } });
  });

  it("a client cannot read another's order (404, as for one never sent) nor claim its id (its own order runs)", async () => {
    const acmes = `acme-only-${Date.now()}`;
    expect((await post({ order_id: acmes, amount: 100 }, bearer(ACME))).status).toBe(200);
    const read = await get(`/orders/${acmes}`, bearer(GLOBEX));
    expect(read.status).toBe(404);
    expect(read.text).toBe(
      (await get('/orders/never-sent-by-anyone', bearer(GLOBEX))).text.replace('never-sent-by-anyone', acmes),
    );
    // Globex's order under the same id is its own: not refused as a reuse, and acme's is untouched.
    expect((await post({ order_id: acmes, amount: 999 }, bearer(GLOBEX))).status).toBe(200);
    expect(await status(acmes, ACME)).toMatchObject({ status: 200, body: { payment: { charged: 100 } } });
  });
});

describe('the log', () => {
  it("never holds a key: not a client's, not the admin's, not one refused", async () => {
    expect((await post(orderBody(), bearer(ACME))).status).toBe(200);
    expect((await post(orderBody(), basic(GLOBEX))).status).toBe(200);
    expect((await post(orderBody(), bearer(NOBODYS))).status).toBe(401);
    expect((await get('/metrics', bearer(ADMIN))).status).toBe(200);
    // Every request this file sent is in it by now: each line is written as its request is answered.
    expect(log.lines.length).toBeGreaterThan(20);
    const written = log.lines.map((line) => JSON.stringify(line)).join('\n');
    for (const key of [ACME, GLOBEX, ADMIN, NOBODYS]) expect(written).not.toContain(key);
    expect(written).not.toContain(Buffer.from(`anyone:${GLOBEX}`).toString('base64'));
  });
});
