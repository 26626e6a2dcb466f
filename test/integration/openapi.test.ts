/**
 * The OpenAPI document is honest: docs/openapi.yaml is what the code
 * generates, it is valid OpenAPI 3.1, /openapi.json serves it, and a real
 * response of every status it documents, on every path, matches it.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_STEPS } from '../../src/composition/steps.js';
import { FeedCursors } from '../../src/events/feed-cursor.js';
import { openApiDocument } from '../../src/http/openapi/openapi.js';
import { compiledFixture } from '../support/compiled.js';
import { useDurableStores } from '../support/durable-stores.js';
import { openEventStream } from '../support/event-stream.js';
import { rawRequestFollowingRetryAfter, rawRequest, type RawResponse } from '../support/http.js';
import { orderBody } from '../support/orders.js';
import { POSTGRES_UNAVAILABLE, sql } from '../support/postgres.js';
import { startOtlpReceiver } from '../support/otlp-receiver.js';
import { startTestService, TEST_CONFIG, type TestService } from '../support/service.js';
import { startReceiver } from '../support/webhook-receiver.js';
import { eventually, pause } from '../support/wait.js';

type HeaderObject = { required?: boolean };
type OpenApi = {
  paths: Record<
    string,
    Record<
      string,
      {
        responses: Record<
          string,
          { content?: Record<string, { schema: unknown }>; headers?: Record<string, HeaderObject | { $ref: string }> }
        >;
      }
    >
  >;
  components: { headers: Record<string, HeaderObject> };
};

const generated = openApiDocument() as unknown as OpenApi;

describe('the document', () => {
  it('is what the code generates (run `npm run openapi` after changing the API)', () => {
    const committed: unknown = parse(readFileSync(new URL('../../docs/openapi.yaml', import.meta.url), 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(generated)));
  });

  it("names the service's version and the default address", () => {
    const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(generated).toMatchObject({
      info: { version: packageJson.version },
      servers: [{ url: 'http://127.0.0.1:8080' }],
    });
  });

  it('has examples for every request body, every response of the order operations and the probes, each valid by its schema', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema(JSON.parse(JSON.stringify(generated)) as object, 'openapi');
    type Media = { examples?: Record<string, { value: unknown }> };
    const checked: string[] = [];
    const check = (pointer: string[], media: Media) => {
      const escaped = pointer.map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');
      const validate = ajv.getSchema(`openapi#/${escaped}/schema`)!;
      for (const [name, { value }] of Object.entries(media.examples ?? {})) {
        expect(validate(value), `${pointer.join(' ')} ${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
        checked.push(`${pointer.join(' ')} ${name}`);
      }
    };
    for (const [path, item] of Object.entries(generated.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const body = (operation as { requestBody?: { content: Record<string, Media> } }).requestBody;
        for (const [type, media] of Object.entries(body?.content ?? {})) {
          expect(media.examples, `${method} ${path} request ${type}`).toBeDefined();
          check(['paths', path, method, 'requestBody', 'content', type], media);
        }
        const ordered = ['/order', '/orders/{order_id}'].includes(path);
        const probe = ['/healthz', '/readyz'].includes(path) && method === 'get';
        for (const [status, response] of Object.entries(operation.responses)) {
          for (const [type, media] of Object.entries(response.content ?? {}) as Array<[string, Media]>) {
            if (ordered || (probe && status !== '405'))
              expect(media.examples, `${method} ${path} ${status} ${type}`).toBeDefined();
            check(['paths', path, method, 'responses', status, 'content', type], media);
          }
        }
      }
    }
    expect(checked.length).toBeGreaterThan(40);
  });

  it('is valid OpenAPI 3.1', async () => {
    const result = await new Validator().validate(JSON.parse(JSON.stringify(generated)) as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });
});

/** The durable mode's own answers (the admin's redrive) come from a service on a throwaway Postgres of the file's. */
const stores = useDurableStores();
const REDRIVE = '/admin/orders/{order_id}/redrive';

describe('real responses', () => {
  let svc: TestService;
  let crashing: TestService;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema(JSON.parse(JSON.stringify(generated)) as object, 'openapi');
  const covered = new Set<string>();

  /** Check a real response against what the document says for its path, method and status. */
  function expectDocumented(method: string, path: string, response: RawResponse): void {
    const operation = generated.paths[path]?.[method.toLowerCase()];
    expect(operation, `${method} ${path} is documented`).toBeDefined();
    const documented = operation!.responses[String(response.status)];
    expect(documented, `${method} ${path} → ${response.status} is documented`).toBeDefined();
    // Every header the document calls required is sent (a header component is named by its $ref).
    for (const [name, header] of Object.entries(documented!.headers ?? {})) {
      const object = '$ref' in header ? generated.components.headers[header.$ref.split('/').pop()!] : header;
      if (object?.required)
        expect(
          response.headers[name.toLowerCase()],
          `${method} ${path} → ${response.status} sends ${name}`,
        ).toBeDefined();
    }
    if (!documented!.content) {
      // A response documented without a body (304) has none.
      expect(response.text, `${method} ${path} → ${response.status} has no body`).toBe('');
      covered.add(`${method.toLowerCase()} ${path} ${response.status}`);
      return;
    }
    const mediaType = String(response.headers['content-type']).split(';')[0]!;
    const content = documented!.content?.[mediaType];
    expect(content, `${method} ${path} → ${response.status} documents ${mediaType}`).toBeDefined();
    const pointer = [
      'paths',
      path,
      method.toLowerCase(),
      'responses',
      String(response.status),
      'content',
      mediaType,
      'schema',
    ]
      .map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1'))
      .join('/');
    const validate = ajv.getSchema(`openapi#/${pointer}`)!;
    const body: unknown = mediaType === 'application/json' ? response.json() : response.text;
    expect(validate(body), `${method} ${path} → ${response.status}: ${JSON.stringify(validate.errors)}`).toBe(true);
    covered.add(`${method.toLowerCase()} ${path} ${response.status}`);
  }

  const JSON_TYPE = { 'content-type': 'application/json' };
  const post = (service: TestService, body: unknown, headers: Record<string, string> = JSON_TYPE) =>
    rawRequest(service.url, { headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  // A read turned away 503 with Retry-After (the loop late beside busy cores) is asked again when it says.
  const get = (service: TestService, path: string) =>
    rawRequestFollowingRetryAfter(service.url, { method: 'GET', path });

  beforeAll(async () => {
    svc = await startTestService({ config: { orderTimeoutMs: 300, maxInflight: 2 } });
    crashing = await startTestService({
      steps: [
        { name: 'payment', module: compiledFixture('steps/throws-at-once').href },
        DEFAULT_STEPS[1]!,
        DEFAULT_STEPS[2]!,
      ],
    });
  });
  afterAll(async () => {
    await svc.shutdown();
    await crashing.shutdown();
  });

  it('of POST /order, for every status', async () => {
    const instant = { payment: 0, vendor: 0, courier: 0 };
    expectDocumented('POST', '/order', await post(svc, orderBody({ delay_ms: instant })));
    expectDocumented('POST', '/order', await post(svc, orderBody({ fail_step: 'payment', delay_ms: instant })));
    expectDocumented('POST', '/order', await post(svc, { order_id: 'x' }));
    expectDocumented('POST', '/order', await post(svc, orderBody({ order_id: 'x'.repeat(70_000) })));
    expectDocumented('POST', '/order', await post(svc, orderBody(), { 'content-type': 'text/plain' }));
    expectDocumented('POST', '/order', await post(svc, orderBody({ fail_step: 'vendor', delay_ms: instant })));
    expectDocumented(
      'POST',
      '/order',
      await post(svc, orderBody({ delay_ms: { payment: 1000, vendor: 1000, courier: 1000 } })),
    );
    expectDocumented('POST', '/order', await post(crashing, orderBody({ order_id: 'bad-openapi', delay_ms: instant })));
    expectDocumented('POST', '/order', await rawRequest(svc.url, { method: 'PUT', headers: JSON_TYPE, body: '{}' }));
    const first = orderBody({ delay_ms: instant });
    expectDocumented('POST', '/order', await post(svc, first));
    expectDocumented('POST', '/order', await post(svc, { ...first, amount: 1 }));
    // In flight for seconds, on deadlines of their own past the service's 300 ms: beside busy cores, two orders of
    // 200 ms had ended before a poll of the health saw them both running.
    const full = [
      post(svc, orderBody({ deadline_ms: 5000, delay_ms: { payment: 2000, vendor: 2000, courier: 2000 } })),
      post(svc, orderBody({ deadline_ms: 5000, delay_ms: { payment: 2000, vendor: 2000, courier: 2000 } })),
    ];
    await eventually(
      () => svc.health(),
      (health) => health.orders_in_flight === 2,
    );
    const shed = await post(svc, orderBody({ delay_ms: instant }));
    expect(shed.json()).toMatchObject({ error: { kind: 'overloaded' } });
    expectDocumented('POST', '/order', shed);
    expectDocumented('GET', '/readyz', await get(svc, '/readyz'));
    for (const answer of await Promise.all(full)) expectDocumented('POST', '/order', answer);
  });

  it('of the probes, /version, /metrics and /openapi.json', async () => {
    const { headers } = await get(svc, '/openapi.json');
    expectDocumented(
      'GET',
      '/openapi.json',
      await rawRequest(svc.url, {
        method: 'GET',
        path: '/openapi.json',
        headers: { 'if-none-match': String(headers['etag']) },
      }),
    );
    for (const path of ['/healthz', '/readyz', '/version', '/metrics', '/openapi.json']) {
      expectDocumented('GET', path, await get(svc, path));
      expectDocumented('GET', path, await rawRequest(svc.url, { method: 'DELETE', path }));
    }
    // The same document, naming the address the server listens on (docs/openapi.yaml names the default one) and
    // the open mode's security: none.
    expect((await get(svc, '/openapi.json')).json()).toEqual(
      JSON.parse(JSON.stringify(openApiDocument({ serverUrl: svc.url.origin, access: 'open' }))),
    );
  });

  it('of the thread view: its page and its event stream', async () => {
    expectDocumented('GET', '/threads', await get(svc, '/threads'));
    const stream = await openEventStream<unknown>(new URL('/threads/events', svc.url));
    const first = await stream.next();
    stream.close();
    expectDocumented('GET', '/threads/events', {
      status: stream.status,
      headers: stream.headers,
      text: `data: ${JSON.stringify(first)}\n\n`,
      json: () => first,
    });
    for (const path of ['/threads', '/threads/events', '/threads/trace'])
      expectDocumented('GET', path, await rawRequest(svc.url, { method: 'DELETE', path }));
    // Tracing off: nothing to show.
    expectDocumented('GET', '/threads/trace', await get(svc, '/threads/trace'));
  });

  it("of the last order's trace, with tracing on", async () => {
    const receiver = await startOtlpReceiver();
    const traced = await startTestService({
      config: {
        tracing: {
          tracesUrl: `${receiver.endpoint}/v1/traces`,
          protocol: 'http/json',
          serviceName: 'openapi',
          sampler: 'always_on',
          samplerRatio: 1,
        },
      },
    });
    try {
      // Asking first arms the capture: none traced since.
      expectDocumented('GET', '/threads/trace', await get(traced, '/threads/trace'));
      expect((await traced.order(orderBody())).status).toBe(200);
      const shown = await eventually(
        () => get(traced, '/threads/trace'),
        (response) => response.status === 200,
      );
      expectDocumented('GET', '/threads/trace', shown);
    } finally {
      await traced.shutdown();
      await receiver.close();
    }
  });

  it("of the dependencies' outage switch", async () => {
    const path = '/admin/dependencies/{dependency}';
    const change = (body: string, headers: Record<string, string> = JSON_TYPE, name = 'courier') =>
      rawRequest(svc.url, { path: `/admin/dependencies/${name}`, headers, body });
    expectDocumented('GET', '/admin/dependencies', await get(svc, '/admin/dependencies'));
    expectDocumented(
      'GET',
      '/admin/dependencies',
      await rawRequest(svc.url, { method: 'DELETE', path: '/admin/dependencies' }),
    );
    expectDocumented('POST', path, await change(JSON.stringify({ outage: true, failure_ratio: 0.5, latency_ms: 10 })));
    expectDocumented('POST', path, await change(JSON.stringify({ outage: false })));
    expectDocumented('POST', path, await change(JSON.stringify({ outage: 'yes' })));
    expectDocumented('POST', path, await change(JSON.stringify({ outage: true }), JSON_TYPE, 'database'));
    expectDocumented(
      'POST',
      path,
      await rawRequest(svc.url, { method: 'PUT', path: '/admin/dependencies/courier', headers: JSON_TYPE, body: '{}' }),
    );
    expectDocumented('POST', path, await change(JSON.stringify({ outage: false, pad: 'x'.repeat(70_000) })));
    expectDocumented('POST', path, await change(JSON.stringify({ outage: false }), { 'content-type': 'text/plain' }));
  });

  it('of the log level', async () => {
    const path = '/admin/log-level';
    // The tests' services log nothing: the level set is the one they run at.
    const change = (body: string, headers: Record<string, string> = JSON_TYPE) =>
      rawRequest(svc.url, { path, headers, body });
    expectDocumented('GET', path, await get(svc, path));
    expectDocumented('GET', path, await rawRequest(svc.url, { method: 'DELETE', path }));
    expectDocumented('POST', path, await change(JSON.stringify({ level: 'silent' })));
    expectDocumented('POST', path, await change(JSON.stringify({ level: 'loud' })));
    expectDocumented('POST', path, await rawRequest(svc.url, { method: 'PUT', path, headers: JSON_TYPE, body: '{}' }));
    expectDocumented('POST', path, await change(JSON.stringify({ level: 'silent', pad: 'x'.repeat(70_000) })));
    expectDocumented('POST', path, await change(JSON.stringify({ level: 'silent' }), { 'content-type': 'text/plain' }));
  });

  it('of GET /orders/{order_id}', async () => {
    const known = orderBody({ delay_ms: { payment: 0, vendor: 0, courier: 0 } });
    await post(svc, known);
    const path = '/orders/{order_id}';
    const found = await get(svc, `/orders/${String(known['order_id'])}`);
    expectDocumented('GET', path, found);
    // Asked again with the ETag it was given: 304, no body.
    const unchanged = await rawRequest(svc.url, {
      method: 'GET',
      path: `/orders/${String(known['order_id'])}`,
      headers: { 'if-none-match': String(found.headers['etag']) },
    });
    expect(unchanged.status).toBe(304);
    expectDocumented('GET', path, unchanged);
    expectDocumented('GET', path, await get(svc, '/orders/never-seen'));
    expectDocumented('GET', path, await rawRequest(svc.url, { method: 'DELETE', path: '/orders/never-seen' }));
  });

  it('of GET /orders, GET /orders/{order_id}/timeline and GET /console', async () => {
    const known = orderBody({ delay_ms: { payment: 0, vendor: 0, courier: 0 } });
    await post(svc, known);
    expectDocumented('GET', '/orders', await get(svc, '/orders?limit=1'));
    expectDocumented('GET', '/orders', await get(svc, '/orders?state=lost'));
    expectDocumented('GET', '/orders', await rawRequest(svc.url, { method: 'DELETE', path: '/orders' }));
    const path = '/orders/{order_id}/timeline';
    expectDocumented('GET', path, await get(svc, `/orders/${String(known['order_id'])}/timeline`));
    expectDocumented('GET', path, await get(svc, '/orders/never-seen/timeline'));
    expectDocumented('GET', path, await get(svc, '/orders/x/timeline?clients=a'));
    expectDocumented('GET', path, await rawRequest(svc.url, { method: 'DELETE', path: '/orders/x/timeline' }));
    expectDocumented('GET', '/console', await get(svc, '/console'));
    expectDocumented('GET', '/console', await rawRequest(svc.url, { method: 'POST', path: '/console', body: '' }));
  });

  it('of POST /orders/{order_id}/cancel, of the order it cancels, and of an order accepted now', async () => {
    const path = '/orders/{order_id}/cancel';
    const waiting = await startTestService({ config: { orderTimeoutMs: 20_000 } });
    try {
      const cancel = (orderId: string, headers: Record<string, string> = {}, query = '') =>
        rawRequest(waiting.url, { path: `/orders/${orderId}/cancel${query}`, headers });
      const slow = orderBody({ order_id: 'to-cancel', delay_ms: { payment: 0, vendor: 10_000, courier: 10_000 } });
      const answered = post(waiting, slow);
      // Once its payment is taken: its refund is still to run when the cancel answers, so the order is winding down
      // (202). Canceled before the payment, on a busy machine, it had nothing to undo and ended at once (200).
      await eventually(
        () => get(waiting, '/orders/to-cancel'),
        (found) => found.status === 200 && (found.json() as { payment: { charged: number } }).payment.charged > 0,
      );
      const accepted = await cancel('to-cancel', { prefer: 'respond-async' });
      expect(accepted.status, accepted.text).toBe(202);
      expect(accepted.headers['preference-applied']).toBe('respond-async');
      expectDocumented('POST', path, accepted);
      const canceled = await cancel('to-cancel');
      expect(canceled.json()).toMatchObject({ lifecycle: 'canceled' });
      expectDocumented('POST', path, canceled);
      expectDocumented('POST', '/order', await answered);
      const later = await post(
        waiting,
        orderBody({ order_id: 'accepted', delay_ms: { payment: 0, vendor: 300, courier: 0 } }),
        { ...JSON_TYPE, prefer: 'respond-async' },
      );
      expect(later.status, later.text).toBe(202);
      expectDocumented('POST', '/order', later);
      await post(waiting, orderBody({ order_id: 'ended', delay_ms: { payment: 0, vendor: 0, courier: 0 } }));
      expectDocumented('POST', path, await cancel('ended'));
      expectDocumented('POST', path, await cancel('never-seen'));
      expectDocumented('POST', path, await cancel('ended', {}, '?what=1'));
      expectDocumented('POST', path, await rawRequest(waiting.url, { method: 'GET', path: '/orders/ended/cancel' }));
      // In memory nothing of an ended order is kept to send on: a redrive is refused, whatever the order.
      const redrive = (orderId: string, query = '') =>
        rawRequest(waiting.url, { path: `/admin/orders/${orderId}/redrive${query}` });
      const refused = await redrive('ended');
      expect(refused.json()).toMatchObject({ error: { kind: 'not_redrivable' }, lifecycle: 'succeeded' });
      expectDocumented('POST', REDRIVE, refused);
      expectDocumented('POST', REDRIVE, await redrive('never-seen'));
      expectDocumented('POST', REDRIVE, await redrive('ended', '?what=1'));
      expectDocumented(
        'POST',
        REDRIVE,
        await rawRequest(waiting.url, { method: 'GET', path: '/admin/orders/ended/redrive' }),
      );
    } finally {
      await waiting.shutdown();
    }
  });

  it.skipIf(POSTGRES_UNAVAILABLE !== undefined)(
    'of POST /admin/orders/{order_id}/redrive in durable mode',
    async () => {
      const databaseUrl = await stores.database();
      const durable = await startTestService({ config: { durable: { databaseUrl, leaseMs: 3000, poolSize: 4 } } });
      try {
        const body = orderBody({
          order_id: 'parked',
          deadline_ms: 10_000,
          delay_ms: { payment: 0, vendor: 0, courier: 0 },
        });
        expect((await post(durable, body)).status).toBe(200);
        // Parked behind the service's back, its payment given back: as recovery leaves an order taken over too often.
        await sql(databaseUrl, `UPDATE provider_payments SET refunded = charged`);
        await sql(databaseUrl, `UPDATE orders SET kind = 'dead_lettered', replay = NULL`);
        const redriven = await rawRequest(durable.url, { path: '/admin/orders/parked/redrive' });
        expect(redriven.status, redriven.text).toBe(202);
        expectDocumented('POST', REDRIVE, redriven);
        await eventually(
          () => get(durable, '/orders/parked'),
          (found) => (found.json() as { lifecycle: string }).lifecycle === 'succeeded',
        );
      } finally {
        await durable.shutdown();
      }
    },
  );

  it('of the probes while draining, and of an order, a read and the event routes turned away then', async () => {
    const draining = await startTestService();
    // Requests begun before the drain, finished after it: they are answered — liveness 200 (a draining process is
    // alive), the rest 503.
    const begun = await Promise.all(
      [
        'GET /healthz',
        'GET /readyz',
        'POST /order',
        'GET /orders/a-1',
        'GET /orders',
        'GET /orders/a-1/timeline',
        'POST /orders/a-1/cancel',
        'GET /webhooks',
        'POST /webhooks',
        'DELETE /webhooks/wh_1',
        'GET /events',
        'POST /admin/events/evt_1/redeliver',
        'POST /admin/orders/a-1/redrive',
      ].map(async (line) => {
        const socket = connect(Number(draining.url.port), draining.url.hostname);
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.write(`${line} HTTP/1.1\r\nHost: ${draining.url.host}\r\n`);
        return { line, socket };
      }),
    );
    await pause(50);
    const stopped = draining.shutdown();
    await pause(50);
    const body = JSON.stringify(orderBody());
    // Every request finished at once, not one after another: the drain's deadline cuts a request still unfinished,
    // and nine in turn on a busy machine outlasted it.
    const replies = begun.map(({ line, socket }) => {
      let reply = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (reply += chunk));
      // A cut connection is this test's failure (below), not an uncaught error of the file.
      socket.on('error', (error: Error) => (reply += `[${error.message}]`));
      const closed = new Promise((resolve) => socket.once('close', resolve));
      socket.write(
        line.startsWith('POST')
          ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
          : '\r\n',
      );
      return closed.then(() => ({ line, reply }));
    });
    for (const { line, reply } of await Promise.all(replies)) {
      const [head, text] = reply.split('\r\n\r\n') as [string, string];
      expect(head, `${line}: ${reply}`).toMatch(/^HTTP\/1\.1 \d+/);
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)![1]);
      expect(status).toBe(line === 'GET /healthz' ? 200 : 503);
      const [method, path] = line.split(' ') as [string, string];
      const documentedPath = path
        .replace(/^\/orders\/[^/]+$/, '/orders/{order_id}')
        .replace(/^\/orders\/[^/]+\/timeline$/, '/orders/{order_id}/timeline')
        .replace(/^\/orders\/[^/]+\/cancel$/, '/orders/{order_id}/cancel')
        .replace(/^\/webhooks\/[^/]+$/, '/webhooks/{id}')
        .replace(/^\/admin\/events\/[^/]+\/redeliver$/, '/admin/events/{id}/redeliver')
        .replace(/^\/admin\/orders\/[^/]+\/redrive$/, REDRIVE);
      const headers = Object.fromEntries(
        head
          .split('\r\n')
          .slice(1)
          .map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      expectDocumented(method, documentedPath, { status, headers, text, json: () => JSON.parse(text) as unknown });
    }
    await stopped;
  });

  it('of callers without the right key, and of a request addressed to another host', async () => {
    const CLIENT_KEY = 'openapi_client_0123456789abcdefghijklmnop';
    const keyed = await startTestService({
      config: {
        access: {
          mode: 'keys',
          clients: [{ client: 'openapi', key: CLIENT_KEY }],
          adminKeys: ['openapi_admin_0123456789abcdefghijklmnopq'],
        },
        clientRateLimit: 1,
      },
    });
    try {
      const asClient = { authorization: `Bearer ${CLIENT_KEY}` };
      const elsewhere = { host: 'attacker.example' };
      expectDocumented(
        'GET',
        '/version',
        await rawRequest(keyed.url, { method: 'GET', path: '/version', headers: elsewhere }),
      );
      expectDocumented(
        'POST',
        '/order',
        await rawRequest(keyed.url, { headers: JSON_TYPE, body: JSON.stringify(orderBody()) }),
      );
      expectDocumented(
        'POST',
        '/order',
        await rawRequest(keyed.url, {
          headers: { ...JSON_TYPE, ...asClient },
          body: JSON.stringify(orderBody({ faults: { vendor: 'reject' } })),
        }),
      );
      // Its second order in this second, over CLIENT_RATE_LIMIT=1.
      const limited = await rawRequest(keyed.url, {
        headers: { ...JSON_TYPE, ...asClient },
        body: JSON.stringify(orderBody()),
      });
      expect(limited.status).toBe(429);
      expectDocumented('POST', '/order', limited);
      expectDocumented(
        'POST',
        '/order',
        await rawRequest(keyed.url, {
          headers: { ...JSON_TYPE, ...asClient, ...elsewhere },
          body: JSON.stringify(orderBody()),
        }),
      );
      expectDocumented('GET', '/orders/{order_id}', await rawRequest(keyed.url, { method: 'GET', path: '/orders/x' }));
      expectDocumented(
        'GET',
        '/orders/{order_id}',
        await rawRequest(keyed.url, { method: 'GET', path: '/orders/%ZZ', headers: asClient }),
      );
      expectDocumented(
        'GET',
        '/orders/{order_id}',
        await rawRequest(keyed.url, { method: 'GET', path: '/orders/x', headers: { ...asClient, ...elsewhere } }),
      );
      for (const path of ['/orders', '/orders/x/timeline']) {
        const documented = path === '/orders' ? path : '/orders/{order_id}/timeline';
        expectDocumented('GET', documented, await rawRequest(keyed.url, { method: 'GET', path }));
        expectDocumented(
          'GET',
          documented,
          await rawRequest(keyed.url, { method: 'GET', path: `${path}?client=someone`, headers: asClient }),
        );
        expectDocumented(
          'GET',
          documented,
          await rawRequest(keyed.url, { method: 'GET', path, headers: { ...asClient, ...elsewhere } }),
        );
      }
      for (const headers of [{}, asClient, { ...asClient, ...elsewhere }]) {
        expectDocumented(
          'POST',
          '/orders/{order_id}/cancel',
          await rawRequest(keyed.url, { path: '/orders/x/cancel?client=another', headers }),
        );
        expectDocumented('POST', REDRIVE, await rawRequest(keyed.url, { path: '/admin/orders/x/redrive', headers }));
      }
      for (const path of [
        '/console',
        '/metrics',
        '/threads',
        '/threads/events',
        '/threads/trace',
        '/admin/dependencies',
        '/admin/log-level',
      ]) {
        expectDocumented('GET', path, await rawRequest(keyed.url, { method: 'GET', path }));
        expectDocumented('GET', path, await rawRequest(keyed.url, { method: 'GET', path, headers: asClient }));
        expectDocumented(
          'GET',
          path,
          await rawRequest(keyed.url, { method: 'GET', path, headers: { ...asClient, ...elsewhere } }),
        );
      }
      const outage = JSON.stringify({ outage: true });
      for (const headers of [{}, asClient, { ...asClient, ...elsewhere }]) {
        expectDocumented(
          'POST',
          '/admin/log-level',
          await rawRequest(keyed.url, {
            path: '/admin/log-level',
            headers: { ...JSON_TYPE, ...headers },
            body: JSON.stringify({ level: 'silent' }),
          }),
        );
        expectDocumented(
          'POST',
          '/admin/dependencies/{dependency}',
          await rawRequest(keyed.url, {
            path: '/admin/dependencies/vendor',
            headers: { ...JSON_TYPE, ...headers },
            body: outage,
          }),
        );
      }
      expectDocumented(
        'GET',
        '/openapi.json',
        await rawRequest(keyed.url, { method: 'GET', path: '/openapi.json', headers: elsewhere }),
      );
    } finally {
      await keyed.shutdown();
    }
  });

  it('of the events and webhooks', async () => {
    const CLIENT = 'client_key_0123456789abcdefghijklmnopqrs';
    const ADMIN = 'admin_key_0123456789abcdefghijklmnopqrst';
    const receiver = await startReceiver();
    const keyed = await startTestService({
      config: {
        access: { mode: 'keys', clients: [{ client: 'shop', key: CLIENT }], adminKeys: [ADMIN] },
        events: { ...TEST_CONFIG.events, allowPrivateTargets: true, webhooksPerClient: 1 },
      },
    });
    try {
      const as = (key: string, more: Record<string, string> = {}) => ({ authorization: `Bearer ${key}`, ...more });
      const elsewhere = { host: 'attacker.example' };
      const send = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
        rawRequest(keyed.url, { method, path, headers, ...(body === undefined ? {} : { body }) });
      const hook = JSON.stringify({ url: receiver.url });
      expectDocumented('POST', '/webhooks', await send('POST', '/webhooks', as(CLIENT, JSON_TYPE), '{"url":"nope"}'));
      const created = await send('POST', '/webhooks', as(CLIENT, JSON_TYPE), hook);
      expectDocumented('POST', '/webhooks', created);
      for (const [headers, body] of [
        [as(CLIENT, JSON_TYPE), hook], // 409: one endpoint each here
        [JSON_TYPE, hook],
        [as(CLIENT, { ...JSON_TYPE, ...elsewhere }), hook],
        [as(CLIENT, { 'content-type': 'text/plain' }), hook],
        [as(CLIENT, JSON_TYPE), JSON.stringify({ url: 'x'.repeat(70_000) })],
      ] as const)
        expectDocumented('POST', '/webhooks', await send('POST', '/webhooks', headers, body));
      expectDocumented('POST', '/webhooks', await send('PUT', '/webhooks', as(CLIENT)));
      expectDocumented('GET', '/webhooks', await send('PUT', '/webhooks', as(CLIENT)));
      for (const headers of [as(CLIENT), {}, as(CLIENT, elsewhere)])
        expectDocumented('GET', '/webhooks', await send('GET', '/webhooks', headers));
      const { id } = created.json() as { id: string };
      const one = '/webhooks/{id}';
      for (const headers of [{}, as(CLIENT, elsewhere)])
        expectDocumented('DELETE', one, await send('DELETE', `/webhooks/${id}`, headers));
      expectDocumented('DELETE', one, await send('GET', `/webhooks/${id}`, as(CLIENT)));
      expectDocumented('DELETE', one, await send('DELETE', `/webhooks/${id}`, as(CLIENT)));
      expectDocumented('DELETE', one, await send('DELETE', `/webhooks/${id}`, as(CLIENT)));

      await keyed.order(orderBody({ delay_ms: { payment: 0, vendor: 0, courier: 0 } }), { key: CLIENT });
      const page = await send('GET', '/events', as(CLIENT));
      expectDocumented('GET', '/events', page);
      // A cursor made before a restart points into a history that is gone: 410.
      const before = new FeedCursors(randomBytes(32)).cursorOf('shop', [1]);
      for (const [path, headers] of [
        ['/events?after=garbage', as(CLIENT)],
        [`/events?after=${before}`, as(CLIENT)],
        ['/events', {}],
        ['/events', as(CLIENT, elsewhere)],
      ] as const)
        expectDocumented('GET', '/events', await send('GET', path, headers));
      expectDocumented('GET', '/events', await send('POST', '/events', as(CLIENT)));

      const eventId = (page.json() as { events: Array<{ id: string }> }).events[0]!.id;
      const redeliver = '/admin/events/{id}/redeliver';
      for (const [path, headers] of [
        [`/admin/events/${eventId}/redeliver`, as(ADMIN)],
        ['/admin/events/evt_none/redeliver', as(ADMIN)],
        [`/admin/events/${eventId}/redeliver`, {}],
        [`/admin/events/${eventId}/redeliver`, as(CLIENT)],
        [`/admin/events/${eventId}/redeliver`, as(ADMIN, elsewhere)],
      ] as const)
        expectDocumented('POST', redeliver, await send('POST', path, headers));
      expectDocumented('POST', redeliver, await send('GET', `/admin/events/${eventId}/redeliver`, as(ADMIN)));
    } finally {
      await keyed.shutdown();
      await receiver.close();
    }
  });

  it('of requests without a key past their address’s rate: 429 on every route but the probes', async () => {
    const keyed = await startTestService({
      config: { access: { mode: 'keys', clients: [], adminKeys: ['admin_key_0123456789abcdefghijklmnopqrst'] } },
    });
    try {
      // Past 100 a second from this address: what follows in the same second is answered 429 once it is over. The
      // routes are asked once the 100 within the rate are answered, not before: connections sent at once reach the
      // server in any order, and a route's request counted among the first 100 is answered 401. The burst's own
      // 429s come only at the second's end, so it is not awaited whole.
      let answered = 0;
      const { promise: rateSpent, resolve: spend } = Promise.withResolvers<void>();
      const burst = Array.from({ length: 120 }, () =>
        rawRequest(keyed.url, { method: 'GET', path: '/version' }).then(() => {
          if (++answered === 100) spend();
        }),
      );
      await rateSpent;
      const routes = Object.entries(generated.paths).flatMap(([path, methods]) =>
        Object.entries(methods)
          .filter(([method, operation]) => method !== 'head' && operation.responses['429'] !== undefined)
          .map(([method]) => [method.toUpperCase(), path] as const),
      );
      expect(routes.length).toBeGreaterThan(10);
      const answers = await Promise.all(
        routes.map(([method, path]) =>
          rawRequest(keyed.url, { method, path: path.replace(/\{[^}]+\}/g, 'vendor'), headers: JSON_TYPE, body: '{}' }),
        ),
      );
      await Promise.all(burst);
      for (const [i, [method, path]] of routes.entries()) {
        expect(answers[i]!.status, `${method} ${path}`).toBe(429);
        expectDocumented(method, path, answers[i]!);
      }
    } finally {
      await keyed.shutdown();
    }
  });

  it('of requests that change state from a page of another origin: 403 on every such route', async () => {
    const routes = Object.entries(generated.paths).flatMap(([path, methods]) =>
      Object.keys(methods)
        .filter((method) => ['post', 'put', 'patch', 'delete'].includes(method))
        .map((method) => [method.toUpperCase(), path] as const),
    );
    expect(routes.length).toBeGreaterThan(5);
    for (const [method, path] of routes) {
      const answer = await rawRequest(svc.url, {
        method,
        path: path.replace(/\{[^}]+\}/g, 'vendor'),
        headers: { 'content-type': 'text/plain', 'sec-fetch-site': 'cross-site', origin: 'http://elsewhere.example' },
        body: 'a=b',
      });
      expect(answer.status, `${method} ${path}`).toBe(403);
      expectDocumented(method, path, answer);
    }
  });

  it('cover every status the document lists', () => {
    const listed = Object.entries(generated.paths).flatMap(([path, methods]) =>
      // HEAD is GET's answer without its body: documented as GET's, checked in test/integration/http-habits.test.ts.
      Object.entries(methods)
        .filter(([method]) => method !== 'head')
        .flatMap(([method, operation]) =>
          Object.keys(operation.responses).map((status) => `${method} ${path} ${status}`),
        ),
    );
    // Without Postgres the durable mode's own answers cannot be had (their test is skipped, and says so).
    const durableOnly = POSTGRES_UNAVAILABLE === undefined ? [] : [`post ${REDRIVE} 202`];
    expect(listed.filter((entry) => !covered.has(entry) && !durableOnly.includes(entry))).toEqual([]);
  });
});
