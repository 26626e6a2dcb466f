/**
 * Events and webhooks over real HTTP, with receivers on loopback: each
 * client receives exactly its own orders' events, signed as Standard
 * Webhooks says (verified by the `standardwebhooks` package), with the types
 * and money GET /orders/{id} agrees with; a failed delivery comes again with
 * the same webhook-id within 15 s; 410 disables an endpoint; private targets
 * are refused unless allowed; GET /events pages without gap or duplicate and
 * never shows another client's events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequestFollowingRetryAfter, rawRequest, type RawResponse } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { captureLog } from '../support/log-capture.js';
import { orderBody } from '../support/orders.js';
import { parseSamples } from '../support/prometheus.js';
import { startTestService, TEST_CONFIG, type TestService } from '../support/service.js';
import { eventually } from '../support/wait.js';
import {
  DELIVERED_WITHIN_MS,
  expectedTypes,
  startHangingReceiver,
  startReceiver,
  type OrderStatusJson,
  type ReceivedEvent,
  type Receiver,
} from '../support/webhook-receiver.js';

const ACME = 'acme_key_0123456789abcdefghijklmnopqrstuv';
const GLOBEX = 'globex-key-0123456789ABCDEFGHIJKLMNOPQRS';
const ADMIN = 'admin_key_ZYXWVUTSRQPONMLKJIHGFEDCBA0123';
const KEYS = {
  mode: 'keys' as const,
  clients: [
    { client: 'acme', key: ACME },
    { client: 'globex', key: GLOBEX },
  ],
  adminKeys: [ADMIN],
};
const INSTANT = { payment: 0, vendor: 0, courier: 0 };

let svc: TestService;
const receivers: Receiver[] = [];
beforeAll(async () => {
  svc = await startTestService({
    config: {
      access: KEYS,
      // Short of the 2 s courier of the order meant to time out, well past what every other order takes: at 400 ms a
      // declined order overran it in durable-webhooks (504 for 400) with five files at once.
      orderTimeoutMs: 1500,
      // Receivers on 127.0.0.1, over http; retries fast except where a test is about the default.
      events: { ...TEST_CONFIG.events, allowPrivateTargets: true, retryFirstMs: 50 },
    },
  });
});
afterAll(async () => {
  await expectAtRest(svc, 2);
  await svc.shutdown();
  await Promise.all(receivers.map((receiver) => receiver.close()));
});

async function receiver(): Promise<Receiver> {
  const started = await startReceiver();
  receivers.push(started);
  return started;
}

/** A request as a client's: a read turned away for a while (503, Retry-After) is asked again when it says. */
const call = (method: string, path: string, key: string, body?: unknown, url: URL = svc.url): Promise<RawResponse> =>
  (method === 'GET' ? rawRequestFollowingRetryAfter : rawRequest)(url, {
    method,
    path,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

async function register(key: string, url: string, at: URL = svc.url): Promise<{ id: string; secret: string }> {
  const response = await call('POST', '/webhooks', key, { url }, at);
  expect(response.status, response.text).toBe(201);
  return response.json() as { id: string; secret: string };
}

const remove = async (key: string, id: string): Promise<void> => {
  expect((await call('DELETE', `/webhooks/${id}`, key)).status).toBe(204);
};

/** One order of every outcome, for `key`'s client; their order_ids. */
async function ordersOfEveryOutcome(key: string): Promise<string[]> {
  const bodies = [
    orderBody({ delay_ms: INSTANT }), // ok
    orderBody({ delay_ms: INSTANT, fail_step: 'payment' }), // declined: nothing charged
    orderBody({ delay_ms: { ...INSTANT, vendor: 20 }, fail_step: 'vendor' }), // charged, refunded
    orderBody({ delay_ms: { ...INSTANT, vendor: 20 }, fail_step: 'vendor', fail_compensation: true }), // refund refused
    orderBody({ delay_ms: { ...INSTANT, courier: 2000 } }), // timeout: charged, refunded
  ];
  const answers = await Promise.all(bodies.map((body) => svc.order(body, { key })));
  expect(answers.map((answer) => answer.status)).toEqual([200, 400, 503, 500, 504]);
  return bodies.map((body) => body['order_id'] as string);
}

describe('webhooks', () => {
  it('two clients each receive exactly their own events, signed, with the types and money GET /orders/{id} says', async () => {
    const [acmeHook, globexHook] = [await receiver(), await receiver()];
    const acme = await register(ACME, acmeHook.url);
    const globex = await register(GLOBEX, globexHook.url);
    // Removed whatever happens: the file's later tests share the service, and count what a client has.
    try {
      expect(acme.secret).toMatch(/^whsec_[A-Za-z0-9+/=]{32,}$/);
      const [acmeOrders, globexOrders] = await Promise.all([ordersOfEveryOutcome(ACME), ordersOfEveryOutcome(GLOBEX)]);
      for (const [key, hook, secret, orders, client] of [
        [ACME, acmeHook, acme.secret, acmeOrders, 'acme'],
        [GLOBEX, globexHook, globex.secret, globexOrders, 'globex'],
      ] as const) {
        const statuses = await Promise.all(
          orders.map(async (id) => {
            const read = await call('GET', `/orders/${id}`, key);
            expect(read.status, read.text).toBe(200);
            return read.json() as OrderStatusJson;
          }),
        );
        const expected = statuses.flatMap(expectedTypes).length;
        await eventually(
          async () => hook.deliveries.length,
          (n) => n >= expected,
          { within: DELIVERED_WITHIN_MS, every: 50 },
        );
        const events = hook.verified(secret);
        // Every one is this client's, of its own orders, once each.
        expect(events.every((event) => event.client === client)).toBe(true);
        expect(new Set(events.map((event) => event.id)).size).toBe(events.length);
        expect(new Set(events.map((event) => event.data.order_id))).toEqual(new Set(orders));
        for (const [i, id] of orders.entries()) {
          const mine = events.filter((event) => event.data.order_id === id);
          const status = statuses[i]!;
          expect(mine.map((event) => event.type)).toEqual(expectedTypes(status));
          for (const event of mine) {
            expect(event.data.outcome).toEqual(status.outcome);
            expect(event.data.payment).toEqual(status.payment);
          }
        }
        // The other client's secret verifies none of them.
        expect(() => hook.verified(secret === acme.secret ? globex.secret : acme.secret)).toThrow();
      }
    } finally {
      await remove(ACME, acme.id);
      await remove(GLOBEX, globex.id);
    }
  });

  it('a receiver that fails the first attempt of every event gets each again, with the same webhook-id, within 15 s (the default schedule)', async () => {
    const other = await startTestService({
      config: { access: KEYS, events: { ...TEST_CONFIG.events, allowPrivateTargets: true } },
    });
    try {
      const hook = await receiver();
      hook.answer = (_delivery, attempt) => (attempt === 1 ? 500 : 200);
      const { secret } = await register(ACME, hook.url, other.url);
      const orders = await Promise.all(
        [1, 2, 3].map(() => other.order(orderBody({ delay_ms: INSTANT }), { key: ACME })),
      );
      expect(orders.map((order) => order.status)).toEqual([200, 200, 200]);
      await eventually(
        async () => hook.deliveries.length,
        (n) => n >= 6,
        { within: 15_000, every: 50 },
      );
      const ids = hook.deliveries.map((delivery) => delivery.headers['webhook-id']);
      expect(new Set(ids).size).toBe(3);
      for (const id of new Set(ids)) {
        const attempts = hook.deliveries.filter((delivery) => delivery.headers['webhook-id'] === id);
        expect(attempts).toHaveLength(2);
        expect(attempts[1]!.at - attempts[0]!.at).toBeLessThan(15_000);
      }
      expect(hook.verified(secret).map((event) => event.type)).toEqual(Array(6).fill('order.succeeded'));
    } finally {
      await other.shutdown();
    }
  });

  it('an order’s events arrive in order, each after the one before it was delivered, whatever the retries', async () => {
    const hook = await receiver();
    // Every first attempt fails: the refund's event must not overtake its order's.
    hook.answer = (_delivery, attempt) => (attempt === 1 ? 503 : 200);
    const { id, secret } = await register(ACME, hook.url);
    const body = orderBody({ delay_ms: { ...INSTANT, vendor: 20 }, fail_step: 'vendor' });
    expect((await svc.order(body, { key: ACME })).status).toBe(503);
    await eventually(
      async () => hook.deliveries.length,
      (n) => n >= 4,
      { within: DELIVERED_WITHIN_MS, every: 50 },
    );
    const types = hook.verified(secret).map((event: ReceivedEvent) => event.type);
    expect(types).toEqual(['order.failed', 'order.failed', 'payment.refunded', 'payment.refunded']);
    await remove(ACME, id);
  });

  it('410 Gone disables the endpoint: nothing more is sent to it, the list and the metrics say so', async () => {
    const hook = await receiver();
    hook.answer = () => 410;
    const { id } = await register(GLOBEX, hook.url);
    const before = parseSamples((await call('GET', '/metrics', ADMIN)).text);
    await svc.order(orderBody({ delay_ms: INSTANT }), { key: GLOBEX });
    const listed = await eventually(
      async () => (await call('GET', '/webhooks', GLOBEX)).json() as { webhooks: Array<Record<string, unknown>> },
      ({ webhooks }) => webhooks.some((webhook) => webhook['id'] === id && webhook['status'] === 'disabled'),
      { within: DELIVERED_WITHIN_MS, every: 50 },
    );
    expect(listed.webhooks.find((webhook) => webhook['id'] === id)).toMatchObject({ disabled_reason: 'gone' });
    expect(JSON.stringify(listed)).not.toContain('whsec_');
    await svc.order(orderBody({ delay_ms: INSTANT }), { key: GLOBEX });
    const gone = 'webhook_endpoints_disabled_total{reason="gone"}';
    // A scrape is served from a copy up to 200 ms old (src/observability/metrics.ts): until a fresh one says it.
    const after = await eventually(
      async () => parseSamples((await call('GET', '/metrics', ADMIN)).text),
      (samples) => (samples.get(gone) ?? 0) - (before.get(gone) ?? 0) === 1,
    );
    expect(hook.deliveries).toHaveLength(1);
    expect(after.get('webhook_deliveries_total{outcome="gone"}')).toBeGreaterThanOrEqual(1);
    expect(after.has('webhook_backlog_age_seconds')).toBe(true);
    await remove(GLOBEX, id);
  });

  it('an endpoint that fails every delivery for the whole retry window is disabled (failing), with its metric', async () => {
    const short = await startTestService({
      config: {
        access: KEYS,
        // A window of a second, so that the endpoint fails for all of it within the test. Its first failure is retried
        // however long the attempt took (triedAgain): beside two busy loops one took past the whole window, and the
        // endpoint was disabled after a single failure.
        events: { ...TEST_CONFIG.events, allowPrivateTargets: true, retryFirstMs: 20, retryWindowMs: 1000 },
      },
    });
    try {
      const hook = await receiver();
      hook.answer = () => 500;
      const { id } = await register(ACME, hook.url, short.url);
      await short.order(orderBody({ delay_ms: INSTANT }), { key: ACME });
      const listed = await eventually(
        async () =>
          (await call('GET', '/webhooks', ACME, undefined, short.url)).json() as {
            webhooks: Array<Record<string, unknown>>;
          },
        ({ webhooks }) => webhooks.some((webhook) => webhook['id'] === id && webhook['status'] === 'disabled'),
      );
      expect(listed.webhooks[0]).toMatchObject({ disabled_reason: 'failing' });
      expect(hook.deliveries.length).toBeGreaterThan(1);
      const metrics = parseSamples((await call('GET', '/metrics', ADMIN, undefined, short.url)).text);
      expect(metrics.get('webhook_endpoints_disabled_total{reason="failing"}')).toBe(1);
      expect(metrics.get('webhook_deliveries_total{outcome="failed"}')).toBe(hook.deliveries.length);
    } finally {
      await short.shutdown();
    }
  });

  it('the admin sends an event again: the same webhook-id once more', async () => {
    const hook = await receiver();
    const { id } = await register(ACME, hook.url);
    await svc.order(orderBody({ delay_ms: INSTANT }), { key: ACME });
    await eventually(
      async () => hook.deliveries.length,
      (n) => n === 1,
      { within: DELIVERED_WITHIN_MS, every: 50 },
    );
    const eventId = hook.deliveries[0]!.headers['webhook-id'] as string;
    expect((await call('POST', `/admin/events/${eventId}/redeliver`, ACME)).status).toBe(403);
    const again = await call('POST', `/admin/events/${eventId}/redeliver`, ADMIN);
    expect(again.status, again.text).toBe(202);
    expect(again.json()).toMatchObject({ deliveries: 1, event: { id: eventId, type: 'order.succeeded' } });
    await eventually(
      async () => hook.deliveries.length,
      (n) => n === 2,
      { within: DELIVERED_WITHIN_MS, every: 50 },
    );
    expect(hook.deliveries[1]!.headers['webhook-id']).toBe(eventId);
    expect((await call('POST', '/admin/events/evt_nothing/redeliver', ADMIN)).status).toBe(404);
    await remove(ACME, id);
  });

  it('a client whose endpoint hangs and whose events flood holds only its share of the sends: another client’s events still arrive within 3 s', async () => {
    // acme's receiver takes every delivery and answers none until released: each send holds its place until the
    // timeout (10 s). Far more of them than the relay's sends at once (64); the sender's 8 connections to the
    // endpoint are taken, and the rest wait for one, holding their places too.
    const slow = await startHangingReceiver();
    const fast = await receiver();
    const acme = await register(ACME, slow.url);
    const globex = await register(GLOBEX, fast.url);
    try {
      for (let i = 0; i < 120; i += 20)
        await Promise.all(Array.from({ length: 20 }, () => svc.order(orderBody({ delay_ms: INSTANT }), { key: ACME })));
      await eventually(
        async () => slow.held,
        (n) => n >= 8,
      );
      const startedAt = performance.now();
      await Promise.all(Array.from({ length: 3 }, () => svc.order(orderBody({ delay_ms: INSTANT }), { key: GLOBEX })));
      // Without shares acme's deliveries held all 64 places, and globex's waited for acme's timeouts: 10 s.
      await eventually(
        async () => fast.deliveries.length,
        (n) => n >= 3,
        { within: 3000 },
      );
      expect(performance.now() - startedAt).toBeLessThan(3000);
      expect(fast.verified(globex.secret).map((event) => event.client)).toEqual(['globex', 'globex', 'globex']);
    } finally {
      await remove(ACME, acme.id);
      await remove(GLOBEX, globex.id);
      await slow.close();
    }
  });
});

describe('endpoints', () => {
  it('a client sees and removes only its own; the secret is shown once', async () => {
    const hook = await receiver();
    const { id } = await register(ACME, hook.url);
    const globexList = (await call('GET', '/webhooks', GLOBEX)).json() as { webhooks: Array<{ id: string }> };
    expect(globexList.webhooks.map((webhook) => webhook.id)).not.toContain(id);
    expect((await call('DELETE', `/webhooks/${id}`, GLOBEX)).status).toBe(404);
    const acmeList = await call('GET', '/webhooks', ACME);
    expect(acmeList.json()).toMatchObject({
      webhooks: [{ id, url: hook.url, status: 'enabled', disabled_reason: null }],
    });
    expect(acmeList.text).not.toContain('whsec_');
    await remove(ACME, id);
    expect((await call('DELETE', `/webhooks/${id}`, ACME)).status).toBe(404);
  });

  it('bad input is a clear JSON error: not a URL, no body, unknown field, a flood of endpoints', async () => {
    for (const [body, status, words] of [
      [{ url: 'not a url' }, 400, 'not an absolute URL'],
      [{ url: 'ftp://127.0.0.1/x' }, 400, 'http or https'],
      [{ url: 'http://no-such-host.invalid/x' }, 400, 'does not resolve'],
      [{ url: 'https://user:pw@127.0.0.1/x' }, 400, 'credentials'],
      [{}, 400, 'url'],
      [{ url: 'https://127.0.0.1/', extra: 1 }, 400, 'extra'],
    ] as const) {
      const response = await call('POST', '/webhooks', ACME, body);
      expect(response.status, response.text).toBe(status);
      expect((response.json() as { error: { message: string } }).error.message).toContain(words);
    }
    const hook = await receiver();
    const ids: string[] = [];
    for (let i = 0; i < TEST_CONFIG.events.webhooksPerClient; i++) ids.push((await register(ACME, hook.url)).id);
    const flood = await call('POST', '/webhooks', ACME, { url: hook.url });
    expect(flood.status).toBe(409);
    expect(flood.json()).toMatchObject({ error: { kind: 'too_many_webhooks' } });
    for (const id of ids) await remove(ACME, id);
  });

  it('private targets are refused unless WEBHOOK_ALLOW_PRIVATE_TARGETS=on: http, loopback, private, link-local, metadata', async () => {
    const strict = await startTestService({ config: { access: KEYS } });
    try {
      // Refused alike whether the name resolves inside or not at all: registration tells no client which internal
      // names exist (before: "resolves to a loopback…" against "does not resolve").
      const said = async (url: string): Promise<string> =>
        ((await call('POST', '/webhooks', ACME, { url }, strict.url)).json() as { error: { message: string } }).error
          .message;
      expect((await said('https://localhost/hook')).replace('localhost', 'HOST')).toBe(
        (await said('https://no-such-host.invalid/hook')).replace('no-such-host.invalid', 'HOST'),
      );
      for (const url of [
        'http://example.com/hook',
        'https://127.0.0.1/hook',
        'https://localhost/hook',
        'https://10.1.2.3/hook',
        'https://192.168.0.10/hook',
        'https://172.16.5.4/hook',
        'https://169.254.169.254/latest/meta-data',
        'https://[::1]/hook',
        'https://[fd00:ec2::254]/hook',
        'https://[::ffff:127.0.0.1]/hook',
      ]) {
        const response = await call('POST', '/webhooks', ACME, { url }, strict.url);
        expect(response.status, url).toBe(400);
        expect(response.json()).toMatchObject({ error: { kind: 'bad_request' } });
      }
    } finally {
      await strict.shutdown();
    }
  });
});

describe('webhook changes', () => {
  it('are metered per client, and a registration is logged without its query string', async () => {
    const log = captureLog();
    const metered = await startTestService({
      config: { access: KEYS, events: { ...TEST_CONFIG.events, allowPrivateTargets: true } },
      logger: log.logger,
    });
    try {
      const hook = await receiver();
      const statuses: number[] = [];
      // A client that creates and deletes as fast as it is answered (the issue: 1,214 cycles in 3 s).
      for (let i = 0; i < 60; i++) {
        const created = await call('POST', '/webhooks', ACME, { url: `${hook.url}?token=s3cr3t-${i}` }, metered.url);
        statuses.push(created.status);
        if (created.status !== 201) continue;
        const { id } = created.json() as { id: string };
        statuses.push((await call('DELETE', `/webhooks/${id}`, ACME, undefined, metered.url)).status);
      }
      expect(statuses).toContain(429);
      // Another client's changes are not counted with these.
      expect((await call('GET', '/webhooks', GLOBEX, undefined, metered.url)).status).toBe(200);
      const registered = log.lines.filter((line) => line['msg'] === 'webhook endpoint registered');
      expect(registered.length).toBeGreaterThan(0);
      // Before: the URL with its query string, a receiver's token among it.
      expect(JSON.stringify(registered)).not.toContain('s3cr3t');
      expect(registered[0]).toMatchObject({ url: hook.url });
    } finally {
      await metered.shutdown();
    }
  });
});

describe('GET /events', () => {
  it('pages through a client’s events with no gap and no duplicate, and never another client’s', async () => {
    await Promise.all(
      Array.from({ length: 7 }, (_, i) =>
        svc.order(orderBody({ delay_ms: INSTANT }), { key: i % 2 === 0 ? ACME : GLOBEX }),
      ),
    );
    const pageAll = async (key: string, limit: number): Promise<Array<{ id: string; client: string }>> => {
      const seen: Array<{ id: string; client: string }> = [];
      let after: string | undefined;
      for (;;) {
        const response = await call('GET', `/events?limit=${limit}${after ? `&after=${after}` : ''}`, key);
        expect(response.status, response.text).toBe(200);
        const page = response.json() as {
          events: Array<{ id: string; client: string }>;
          next: string;
          has_more: boolean;
        };
        seen.push(...page.events);
        after = page.next;
        if (!page.has_more) return seen;
      }
    };
    const acmeWhole = await pageAll(ACME, 1000);
    const acmePaged = await pageAll(ACME, 3);
    expect(acmePaged.map((event) => event.id)).toEqual(acmeWhole.map((event) => event.id));
    expect(new Set(acmePaged.map((event) => event.id)).size).toBe(acmePaged.length);
    expect(acmePaged.every((event) => event.client === 'acme')).toBe(true);
    const globex = await pageAll(GLOBEX, 2);
    expect(globex.every((event) => event.client === 'globex')).toBe(true);
    expect(acmeWhole.length).toBeGreaterThanOrEqual(4);
    // Nothing new: the last cursor gives an empty page and the same cursor.
    const last = (await call('GET', '/events?limit=1000', ACME)).json() as { next: string };
    const empty = (await call('GET', `/events?after=${last.next}`, ACME)).json() as { events: unknown[]; next: string };
    expect(empty).toMatchObject({ events: [], next: last.next, has_more: false });
  });

  it('a cursor of another client, garbage, or a bad limit is 400 with a message', async () => {
    const acmeCursor = ((await call('GET', '/events?limit=1', ACME)).json() as { next: string }).next;
    for (const [path, words] of [
      [`/events?after=${acmeCursor}`, 'another client'],
      ['/events?after=garbage', 'not a cursor'],
      ['/events?after=c1.%E2%9C%93', 'not a cursor'],
      ['/events?limit=0', 'limit'],
      ['/events?limit=abc', 'limit'],
      ['/events?since=1', 'unknown query parameter'],
    ] as const) {
      const response = await call('GET', path, GLOBEX);
      expect(response.status, path).toBe(400);
      expect((response.json() as { error: { message: string } }).error.message).toContain(words);
    }
  });
});
