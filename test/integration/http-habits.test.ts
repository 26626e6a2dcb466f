/**
 * The HTTP habits clients expect, over real HTTP: RFC 9457 problem details
 * on every error path for a request that asks for them (and the service's
 * own shape for one that does not), `Cache-Control: no-store` on answers
 * with money, the document's ETag, 304 and compression, HEAD wherever GET
 * is served, and Retry-After on a 503 from a dependency known to be out.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_STEPS } from '../../src/composition/steps.js';
import { openApiDocument } from '../../src/http/openapi/openapi.js';
import { PROBLEM_TYPE_BASE } from '../../src/http/wire/problem-details.js';
import { compiledFixture } from '../support/compiled.js';
import {
  rawRequestFollowingRetryAfter,
  rawRequest,
  readFollowingRetryAfter,
  type RawResponse,
} from '../support/http.js';
import { converse, parseReply } from '../support/raw-socket.js';
import { expectAtRest, expectOsThreadsBackTo, osThreadCount } from '../support/leaks.js';
import { orderBody } from '../support/orders.js';
import { startTestService, type TestService } from '../support/service.js';
import { eventually } from '../support/wait.js';

const THREADS = 2;
const PROBLEM = { accept: 'application/problem+json' };
const JSON_TYPE = { 'content-type': 'application/json' };
const INSTANT = { payment: 0, vendor: 0, courier: 0 };
const CLIENT_KEY = 'habits_client_0123456789abcdefghijklmnopq';
const ADMIN_KEY = 'habits_admin_0123456789abcdefghijklmnopqr';

let svc: TestService;
let crashing: TestService;
let keyed: TestService;
let osThreadsBefore: number;

const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(JSON.parse(JSON.stringify(openApiDocument())) as object, 'openapi');
const validProblem = ajv.getSchema('openapi#/components/schemas/Problem')!;

beforeAll(async () => {
  osThreadsBefore = osThreadCount();
  svc = await startTestService({ config: { threads: THREADS, orderTimeoutMs: 300, maxInflight: 2 } });
  crashing = await startTestService({
    config: { threads: THREADS },
    steps: [{ name: 'payment', module: compiledFixture('steps/throws-at-once').href }, ...DEFAULT_STEPS.slice(1)],
  });
  keyed = await startTestService({
    config: {
      threads: THREADS,
      access: { mode: 'keys', clients: [{ client: 'habits', key: CLIENT_KEY }], adminKeys: [ADMIN_KEY] },
      clientRateLimit: 1,
    },
  });
});
afterEach(async () => {
  await expectAtRest(svc, THREADS);
  await expectAtRest(keyed, THREADS);
});
afterAll(async () => {
  await Promise.all([svc.shutdown(), crashing.shutdown(), keyed.shutdown()]);
  await expectOsThreadsBackTo(osThreadsBefore);
});

const post = (service: TestService, body: unknown, headers: Record<string, string> = {}) =>
  rawRequest(service.url, {
    headers: { ...JSON_TYPE, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

function expectProblem(response: RawResponse, status: number, kind: string): Record<string, unknown> {
  expect(response.status, response.text).toBe(status);
  expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  const body = JSON.parse(response.text) as Record<string, unknown>;
  expect(validProblem(body), JSON.stringify(validProblem.errors)).toBe(true);
  expect(body).toMatchObject({
    type: `${PROBLEM_TYPE_BASE}${kind}`,
    title: expect.any(String),
    status,
    detail: expect.any(String),
    instance: response.headers['x-request-id'],
    kind,
  });
  return body;
}

describe('problem details, with Accept: application/problem+json', () => {
  it('on every error path of POST /order, GET /orders and the router', async () => {
    expectProblem(await post(svc, { order_id: 'x' }, PROBLEM), 400, 'bad_request');
    const declined = expectProblem(
      await post(svc, orderBody({ order_id: 'declined', fail_step: 'payment', delay_ms: INSTANT }), PROBLEM),
      400,
      'payment_declined',
    );
    // A failed order keeps its outcome as extension members.
    expect(declined).toMatchObject({ order_id: 'declined', steps: expect.any(Array) });
    expectProblem(
      await rawRequest(svc.url, { method: 'GET', path: '/orders/never', headers: PROBLEM }),
      404,
      'not_found',
    );
    expectProblem(
      await rawRequest(svc.url, { method: 'PUT', path: '/order', headers: PROBLEM }),
      405,
      'method_not_allowed',
    );
    expectProblem(await post(svc, orderBody({ order_id: 'x'.repeat(70_000) }), PROBLEM), 413, 'payload_too_large');
    expectProblem(
      await post(svc, orderBody(), { ...PROBLEM, 'content-type': 'text/plain' }),
      415,
      'unsupported_media_type',
    );
    const first = orderBody({ delay_ms: INSTANT });
    await post(svc, first);
    expectProblem(await post(svc, { ...first, amount: 1 }, PROBLEM), 422, 'idempotency_key_reuse');
    // The buggy step throws for orders "bad-…".
    expectProblem(
      await post(crashing, orderBody({ order_id: 'bad-habits', delay_ms: INSTANT }), PROBLEM),
      500,
      'internal',
    );
    const timedOut = await post(svc, orderBody({ delay_ms: { payment: 1000, vendor: 1000, courier: 1000 } }), PROBLEM);
    expectProblem(timedOut, 504, 'timeout');
    expect(timedOut.headers['cache-control']).toBe('no-store');
    // A request Node's parser refuses (two Content-Lengths) is answered by the same rule, before any route.
    const malformed = await converse(svc.url);
    await malformed.send(
      'POST /order HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/problem+json\r\nX-Request-Id: raw-1\r\n' +
        'Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
    );
    await malformed.ended;
    const { status, headers, body } = parseReply(malformed.reply());
    expectProblem({ status, headers, text: body, json: () => JSON.parse(body) as unknown }, 400, 'bad_request');
    expect(JSON.parse(body)).toMatchObject({ instance: 'raw-1' });
  });

  it('on 401, 403 and 429 with keys', async () => {
    expectProblem(await post(keyed, orderBody(), PROBLEM), 401, 'unauthorized');
    const asClient = { ...PROBLEM, authorization: `Bearer ${CLIENT_KEY}` };
    expectProblem(
      await rawRequest(keyed.url, { method: 'GET', path: '/admin/dependencies', headers: asClient }),
      403,
      'forbidden',
    );
    // Three at once, at a limit of one a second: however the window's edge falls, two share a window.
    const answers = await Promise.all([1, 2, 3].map(() => post(keyed, orderBody({ delay_ms: INSTANT }), asClient)));
    const refused = answers.find((answer) => answer.status === 429);
    expect(refused, answers.map((answer) => answer.status).join(' ')).toBeDefined();
    const limited = expectProblem(refused!, 429, 'rate_limited');
    expect(limited['kind']).toBe('rate_limited');
  });

  it('on 503: overloaded, with Retry-After', async () => {
    const slow = orderBody({ delay_ms: { payment: 200, vendor: 200, courier: 200 } });
    const full = [post(svc, slow), post(svc, { ...slow, order_id: `${String(slow['order_id'])}-2` })];
    await eventually(
      () => svc.health(),
      (health) => health.orders_in_flight === 2,
    );
    const shed = await post(svc, orderBody({ delay_ms: INSTANT }), PROBLEM);
    expectProblem(shed, 503, 'overloaded');
    expect(shed.headers['retry-after']).toBe('1');
    await Promise.all(full);
  });

  it('changes nothing without the header, nor when JSON is preferred', async () => {
    for (const headers of [
      {} as Record<string, string>,
      { accept: 'application/json, application/problem+json;q=0.5' },
      { accept: '*/*' },
    ]) {
      const answer = await post(svc, { order_id: 'x' }, headers);
      expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(JSON.parse(answer.text)).toEqual({
        status: 'error',
        error: { kind: 'bad_request', message: expect.any(String) },
      });
    }
  });
});

describe('caching', () => {
  it('every order outcome carries Cache-Control: no-store', async () => {
    const placed = await post(svc, orderBody({ delay_ms: INSTANT }));
    expect(placed.status).toBe(200);
    expect(placed.headers['cache-control']).toBe('no-store');
    const declined = await post(svc, orderBody({ fail_step: 'payment', delay_ms: INSTANT }));
    expect(declined.status).toBe(400);
    expect(declined.headers['cache-control']).toBe('no-store');
  });

  it('GET /orders/{id} has a strong ETag of its body, kept by no shared cache and asked again each time; If-None-Match naming it is 304 until the order changes', async () => {
    const body = orderBody({ deadline_ms: 5000, delay_ms: { payment: 0, vendor: 1500, courier: 0 } });
    const orderId = String(body['order_id']);
    expect((await post(svc, body, { prefer: 'respond-async' })).status).toBe(202);
    const read = (headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> =>
      rawRequest(svc.url, { method, path: `/orders/${orderId}`, headers });
    // Running, its payment taken: as it will stay until the vendor's 1.5 s are over.
    const running = await eventually(
      () => read(),
      (answer) => (answer.json() as { payment: { charged: number } }).payment.charged > 0,
    );
    expect(running.json()).toMatchObject({ state: 'running' });
    const etag = String(running.headers['etag']);
    expect(etag).toMatch(/^"[\w-]+"$/);
    expect(running.headers['cache-control']).toBe('private, no-cache');
    // Its body's: the same body, the same tag, on GET and HEAD.
    expect((await read()).headers['etag']).toBe(etag);
    expect((await read({}, 'HEAD')).headers['etag']).toBe(etag);
    // Named, the order unchanged: 304, no body, the tag and the caching said again. fetch() adds Cache-Control:
    // no-cache to such a request (a word to caches, not to the origin): still 304.
    for (const asked of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      for (const headers of [
        { 'if-none-match': asked },
        { 'if-none-match': asked, 'cache-control': 'no-cache' },
      ] as Array<Record<string, string>>) {
        const again = await read(headers);
        expect(again.status, JSON.stringify(headers)).toBe(304);
        expect(again.text).toBe('');
        expect(again.headers).toMatchObject({ etag, 'cache-control': 'private, no-cache' });
      }
    }
    expect((await read({ 'if-none-match': '"other"' })).status).toBe(200);
    // The order ends: its body changes, and so does its tag.
    await eventually(
      async () => (await read()).json() as { state: string },
      (found) => found.state === 'done',
    );
    const done = await read({ 'if-none-match': etag });
    expect(done.status).toBe(200);
    expect(done.json()).toMatchObject({ state: 'done', lifecycle: 'succeeded' });
    expect(done.headers['etag']).not.toBe(etag);
    expect((await read({ 'if-none-match': String(done.headers['etag']) })).status).toBe(304);
  });

  it('/openapi.json has an ETag, answers 304 to it, and is compressed for a client that accepts it', async () => {
    const first = await rawRequestFollowingRetryAfter(svc.url, { method: 'GET', path: '/openapi.json' });
    const etag = String(first.headers['etag']);
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await rawRequestFollowingRetryAfter(svc.url, {
      method: 'GET',
      path: '/openapi.json',
      headers: { 'if-none-match': etag },
    });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
    expect(again.headers['etag']).toBe(etag);
    const stale = await rawRequestFollowingRetryAfter(svc.url, {
      method: 'GET',
      path: '/openapi.json',
      headers: { 'if-none-match': '"another"' },
    });
    expect(stale.status).toBe(200);
    // fetch asks for gzip, deflate and br, and decodes what it gets.
    const compressed = await readFollowingRetryAfter(new URL('/openapi.json', svc.url));
    expect(compressed.headers.get('content-encoding')).toMatch(/^(gzip|br|deflate)$/);
    expect(await compressed.json()).toEqual(first.json());
    expect(first.headers['content-encoding']).toBeUndefined();
  });
});

describe('order_id', () => {
  it('is counted in code points, as docs/api.md and the schema say: 128 emoji pass, 129 are refused', async () => {
    const emoji = '\u{1F600}';
    const fits = await post(svc, orderBody({ order_id: emoji.repeat(128), delay_ms: INSTANT }));
    expect(fits.status, fits.text).toBe(200);
    const over = await post(svc, orderBody({ order_id: emoji.repeat(129), delay_ms: INSTANT }));
    expect(over.status).toBe(400);
    expect(over.json()).toMatchObject({ error: { kind: 'bad_request', message: expect.stringContaining('order_id') } });
  });
});

describe('HEAD', () => {
  it("is served wherever GET is, with GET's status and headers and no body", async () => {
    for (const path of ['/healthz', '/readyz', '/openapi.json', '/metrics', '/threads', '/admin/dependencies']) {
      const get = await rawRequestFollowingRetryAfter(svc.url, { method: 'GET', path });
      const head = await rawRequestFollowingRetryAfter(svc.url, { method: 'HEAD', path });
      expect(head.status, path).toBe(get.status);
      expect(head.text, path).toBe('');
      expect(head.headers['content-type'], path).toBe(get.headers['content-type']);
    }
    const document = openApiDocument() as unknown as { paths: Record<string, Record<string, unknown>> };
    for (const [path, item] of Object.entries(document.paths))
      expect(Object.hasOwn(item, 'head'), path).toBe(Object.hasOwn(item, 'get'));
  });
});

describe('Retry-After on a 503 from a dependency', () => {
  it('is there once an outage is known, and absent when the order asked for the failure', async () => {
    const asked = await post(svc, orderBody({ fail_step: 'vendor', delay_ms: INSTANT }));
    expect(asked.status).toBe(503);
    expect(asked.json()).toMatchObject({ error: { kind: 'vendor_unavailable' } });
    expect(asked.headers['retry-after']).toBeUndefined();

    const outage = await rawRequest(svc.url, {
      path: '/admin/dependencies/vendor',
      headers: JSON_TYPE,
      body: JSON.stringify({ outage: true }),
    });
    expect(outage.status).toBe(200);
    try {
      const out = await post(svc, orderBody({ delay_ms: INSTANT }));
      expect(out.status).toBe(503);
      expect(out.json()).toMatchObject({ error: { kind: 'vendor_unavailable' } });
      expect(Number(out.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    } finally {
      await rawRequest(svc.url, {
        path: '/admin/dependencies/vendor',
        headers: JSON_TYPE,
        body: JSON.stringify({ outage: false }),
      });
    }
  });
});
