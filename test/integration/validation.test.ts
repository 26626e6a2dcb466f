/**
 * Bad input gets a clear JSON error and never disturbs anything: a table of
 * every kind of bad request, then arbitrary requests from fast-check.
 */
import { fc, test as propertyTest } from '@fast-check/vitest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectAtRest } from '../support/leaks.js';
import { rawRequest } from '../support/http.js';
import { startTestService, type TestService } from '../support/service.js';
import { STEP_NAMES } from '../../src/domain/steps.js';

const THREADS = 2;
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ config: { threads: THREADS } });
});
afterEach(async () => expectAtRest(svc, THREADS));
afterAll(async () => svc.shutdown());

const JSON_TYPE = { 'content-type': 'application/json' };
let validOrders = 0;
/** A valid order, under an order_id of its own (reusing one for another body is a 422). */
const valid = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  order_id: `v${++validOrders}`,
  amount: 10,
  delay_ms: { payment: 0, vendor: 0, courier: 0 },
  ...extra,
});

interface Case {
  readonly name: string;
  readonly body: string | Buffer;
  readonly headers?: Record<string, string>;
  readonly status: number;
  readonly kind: string;
  /** Part of the message: the offending field, or what was wrong. */
  readonly says: string;
}

const json = (value: unknown): string => JSON.stringify(value);

const badBodies: Case[] = [
  { name: 'order_id missing', body: json({ amount: 1 }), status: 400, kind: 'bad_request', says: 'order_id: required' },
  { name: 'order_id empty', body: json(valid({ order_id: '' })), status: 400, kind: 'bad_request', says: 'order_id' },
  {
    name: 'order_id too long',
    body: json(valid({ order_id: 'x'.repeat(129) })),
    status: 400,
    kind: 'bad_request',
    says: 'order_id',
  },
  {
    name: 'order_id not a string',
    body: json(valid({ order_id: 7 })),
    status: 400,
    kind: 'bad_request',
    says: 'order_id',
  },
  { name: 'amount missing', body: json({ order_id: 'a' }), status: 400, kind: 'bad_request', says: 'amount: required' },
  { name: 'amount zero', body: json(valid({ amount: 0 })), status: 400, kind: 'bad_request', says: 'amount' },
  { name: 'amount negative', body: json(valid({ amount: -5 })), status: 400, kind: 'bad_request', says: 'amount' },
  { name: 'amount fractional', body: json(valid({ amount: 1.5 })), status: 400, kind: 'bad_request', says: 'amount' },
  { name: 'amount a string', body: json(valid({ amount: '10' })), status: 400, kind: 'bad_request', says: 'amount' },
  {
    name: 'amount beyond a safe integer',
    body: '{"order_id":"a","amount":9007199254740993}',
    status: 400,
    kind: 'bad_request',
    says: 'amount',
  },
  {
    name: 'fail_step unknown',
    body: json(valid({ fail_step: 'refund' })),
    status: 400,
    kind: 'bad_request',
    says: 'fail_step',
  },
  {
    name: 'fail_step null',
    body: json(valid({ fail_step: null })),
    status: 400,
    kind: 'bad_request',
    says: 'fail_step',
  },
  {
    name: 'delay_ms negative',
    body: json(valid({ delay_ms: { vendor: -1 } })),
    status: 400,
    kind: 'bad_request',
    says: 'delay_ms.vendor',
  },
  {
    name: 'delay_ms over 60000',
    body: json(valid({ delay_ms: { vendor: 60001 } })),
    status: 400,
    kind: 'bad_request',
    says: 'delay_ms.vendor',
  },
  {
    name: 'delay_ms fractional',
    body: json(valid({ delay_ms: { courier: 1.5 } })),
    status: 400,
    kind: 'bad_request',
    says: 'delay_ms.courier',
  },
  {
    name: 'delay_ms unknown step',
    body: json(valid({ delay_ms: { shipping: 1 } })),
    status: 400,
    kind: 'bad_request',
    says: 'unknown field "delay_ms.shipping"',
  },
  {
    name: 'cpu_ms for a compensation',
    body: json(valid({ cpu_ms: { refund: 1 } })),
    status: 400,
    kind: 'bad_request',
    says: 'unknown field "cpu_ms.refund"',
  },
  {
    name: 'fail_compensation not a boolean',
    body: json(valid({ fail_compensation: 'yes' })),
    status: 400,
    kind: 'bad_request',
    says: 'fail_compensation',
  },
  {
    name: 'delay_ms an array',
    body: json(valid({ delay_ms: [1, 2, 3] })),
    status: 400,
    kind: 'bad_request',
    says: 'delay_ms',
  },
  {
    name: 'cpu_ms over 10000',
    body: json(valid({ cpu_ms: { payment: 10001 } })),
    status: 400,
    kind: 'bad_request',
    says: 'cpu_ms.payment',
  },
  {
    name: 'cpu_ms unknown step',
    body: json(valid({ cpu_ms: { payments: 1 } })),
    status: 400,
    kind: 'bad_request',
    says: 'unknown field "cpu_ms.payments"',
  },
  {
    name: 'unknown top-level field',
    body: json(valid({ extra: true })),
    status: 400,
    kind: 'bad_request',
    says: 'unknown field "extra"',
  },
  {
    name: '__proto__ smuggled in',
    body: '{"order_id":"a","amount":1,"__proto__":{"admin":true}}',
    status: 400,
    kind: 'bad_request',
    says: 'unknown field "__proto__"',
  },
  { name: 'null', body: 'null', status: 400, kind: 'bad_request', says: 'got null' },
  { name: 'an array', body: '[]', status: 400, kind: 'bad_request', says: 'got an array' },
  { name: 'a string', body: '"x"', status: 400, kind: 'bad_request', says: 'got string' },
  { name: 'a number', body: '42', status: 400, kind: 'bad_request', says: 'got number' },
  { name: 'an empty body', body: '', status: 400, kind: 'bad_request', says: 'body is empty' },
  { name: 'only whitespace', body: '  \n ', status: 400, kind: 'bad_request', says: 'not valid JSON' },
  {
    name: 'two objects back to back',
    body: json(valid()) + json(valid()),
    status: 400,
    kind: 'bad_request',
    says: 'not valid JSON',
  },
  { name: 'truncated JSON', body: '{"order_id":"a",', status: 400, kind: 'bad_request', says: 'not valid JSON' },
  {
    name: 'bytes that are not UTF-8',
    body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    status: 400,
    kind: 'bad_request',
    says: 'UTF-8',
  },
  {
    name: 'a body over 64 KiB',
    body: json(valid({ order_id: 'x'.repeat(70_000) })),
    status: 413,
    kind: 'payload_too_large',
    says: '65536',
  },
  {
    name: 'text/plain',
    body: json(valid()),
    headers: { 'content-type': 'text/plain' },
    status: 415,
    kind: 'unsupported_media_type',
    says: 'application/json',
  },
  {
    name: 'no Content-Type',
    body: json(valid()),
    headers: {},
    status: 415,
    kind: 'unsupported_media_type',
    says: 'none was given',
  },
  {
    name: 'a charset other than UTF-8',
    body: json(valid()),
    headers: { 'content-type': 'application/json; charset=latin1' },
    status: 415,
    kind: 'unsupported_media_type',
    says: 'UTF-8',
  },
  {
    name: 'a garbled Content-Type',
    body: json(valid()),
    headers: { 'content-type': 'application/json;;;=' },
    status: 415,
    kind: 'unsupported_media_type',
    says: 'not a valid media type',
  },
];

describe('bad requests', () => {
  it.each(badBodies)('$name → $status $kind', async ({ body, headers = JSON_TYPE, status, kind, says }) => {
    const response = await rawRequest(svc.url, { headers, body });
    expect(response.status).toBe(status);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    const answer = response.json() as { status: string; error: { kind: string; message: string } };
    expect(answer.status).toBe('error');
    expect(answer.error.kind).toBe(kind);
    expect(answer.error.message).toContain(says);
  });

  it('accepts a body of exactly 64 KiB, and application/json with charset=utf-8', async () => {
    const order = json(valid());
    const body = order + ' '.repeat(64 * 1024 - order.length);
    const response = await rawRequest(svc.url, {
      headers: { 'content-type': 'application/json; charset=UTF-8' },
      body,
    });
    expect(response.status).toBe(200);
  });

  it.each(['GET', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'])('%s /order → 405 with Allow: POST', async (method) => {
    const response = await rawRequest(svc.url, { method });
    expect(response.status).toBe(405);
    expect(response.headers['allow']).toBe('POST');
    if (method !== 'HEAD')
      expect(response.json()).toMatchObject({ status: 'error', error: { kind: 'method_not_allowed' } });
  });

  it('POST /healthz → 405 with Allow: GET, HEAD', async () => {
    const response = await rawRequest(svc.url, { path: '/healthz', body: '{}', headers: JSON_TYPE });
    expect(response.status).toBe(405);
    expect(response.headers['allow']).toBe('GET, HEAD');
  });

  it.each(['/', '/orders/x/y', '/order/', '/ORDER', '/healthz/x'])('%s → 404 not_found', async (path) => {
    const response = await rawRequest(svc.url, { path, body: json(valid()), headers: JSON_TYPE });
    expect(response.status).toBe(404);
    expect(response.json()).toMatchObject({ status: 'error', error: { kind: 'not_found' } });
  });
});

/** Statuses any request may get: a 500 for bad input would be a bug. (422: an order_id reused for another order.) */
const EXPECTED_STATUSES = new Set([200, 400, 404, 405, 413, 415, 422, 503, 504]);

const quickOrder = fc.record(
  {
    order_id: fc.string({ minLength: 1, maxLength: 20 }),
    amount: fc.integer({ min: 1, max: 10_000 }),
    fail_step: fc.constantFrom(...STEP_NAMES),
    delay_ms: fc.record({ payment: fc.nat(20), vendor: fc.nat(20), courier: fc.nat(20) }, { requiredKeys: [] }),
    cpu_ms: fc.record({ payment: fc.nat(5), vendor: fc.nat(5), courier: fc.nat(5) }, { requiredKeys: [] }),
  },
  { requiredKeys: ['order_id', 'amount'] },
);
const orderLike = fc.dictionary(
  fc.constantFrom('order_id', 'amount', 'fail_step', 'delay_ms', 'cpu_ms', 'extra'),
  fc.jsonValue({ maxDepth: 2 }),
);
const bodies = fc.oneof(
  quickOrder.map((order) => JSON.stringify(order)),
  orderLike.map((order) => JSON.stringify(order)),
  fc.json({ maxDepth: 3 }),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
);
const contentTypes = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'application/x-www-form-urlencoded',
    '',
  ),
  fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz/;=+-. '.split('')), maxLength: 40 }),
);

describe('arbitrary requests', () => {
  propertyTest.prop(
    [
      fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE'),
      fc.constantFrom('/order', '/order', '/healthz', '/nope'),
      contentTypes,
      bodies,
    ],
    {
      numRuns: 250,
    },
  )(
    'only ever get an expected status with a JSON body, and never take the server down',
    async (method, path, contentType, body) => {
      const headers: Record<string, string> = contentType ? { 'content-type': contentType } : {};
      const response = await rawRequest(svc.url, { method, path, headers, body: method === 'GET' ? undefined : body });
      expect(EXPECTED_STATUSES).toContain(response.status);
      const answer = response.json() as { status: string; error?: { kind: string; message: string } };
      expect(['ok', 'error', 'draining']).toContain(answer.status);
      if (response.status >= 400) expect(typeof answer.error?.message).toBe('string');
    },
  );

  it('still serves orders after all that', async () => {
    expect((await svc.order(valid({ order_id: 'after' }))).status).toBe(200);
  });
});
