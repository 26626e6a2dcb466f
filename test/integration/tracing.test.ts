/**
 * Tracing over real HTTP, with an OTLP/HTTP receiver on loopback: a caller's
 * traceparent continues its trace, the request's server span is the caller
 * span's child, each step is a span with its thread, a declined order shows
 * the decline and the cancellations, and a step whose thread was killed still
 * has its span, with the thread's fate on it. A webhook delivery's attempts
 * are spans in the order's trace, linked to its server span — in memory and,
 * with Postgres, from the event's row. With no endpoint, the trace id still
 * reaches the response.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config, TracingConfig } from '../../src/config.js';
import { expectAtRest } from '../support/leaks.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { orderBody } from '../support/orders.js';
import { startTestService, TEST_CONFIG, type OrderResponse, type TestService } from '../support/service.js';
import { eventually } from '../support/wait.js';
import { startReceiver } from '../support/webhook-receiver.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  startTestPostgres,
  type TestPostgres,
} from '../support/postgres.js';

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(async () => {
  await receiver.close();
});

const tracingTo = (protocol: TracingConfig['protocol'] = 'http/json'): TracingConfig => ({
  tracesUrl: `${receiver.endpoint}/v1/traces`,
  protocol,
  serviceName: 'order-threads-test',
  sampler: 'parentbased_always_on',
  samplerRatio: 1,
});

let svc: TestService | undefined;
afterEach(async () => {
  await svc?.shutdown();
  svc = undefined;
});

async function start(config: Partial<Config> = {}): Promise<TestService> {
  svc = await startTestService({ config: { tracing: tracingTo(), ...config } });
  return svc;
}

interface Traced {
  readonly status: number;
  readonly body: OrderResponse;
  readonly traceresponse: string | null;
}

/** POST /order as a caller already in a trace: its traceparent names its trace and its own span. */
async function orderInTrace(
  service: TestService,
  body: Record<string, unknown>,
  caller: { traceId: string; spanId: string } | undefined,
  key?: string,
): Promise<Traced> {
  const response = await fetch(new URL('/order', service.url), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(caller ? { traceparent: `00-${caller.traceId}-${caller.spanId}-01`, tracestate: 'caller=1' } : {}),
    },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as OrderResponse,
    traceresponse: response.headers.get('traceresponse'),
  };
}

/** Every span of the trace once the request's own and `names` have all arrived. */
async function spansOnceExported(traceId: string, names: readonly string[]): Promise<ReceivedSpan[]> {
  return eventually(
    async () => receiver.spansOf(traceId),
    (spans) =>
      spans.some((span) => span.kind === SPAN_KIND_SERVER) && names.every((name) => spans.some((s) => s.name === name)),
  );
}

const named = (spans: readonly ReceivedSpan[], name: string): ReceivedSpan => {
  const found = spans.find((span) => span.name === name);
  if (!found) throw new Error(`no span ${name} among ${spans.map((span) => span.name).join(', ')}`);
  return found;
};

const STEP_SPANS = ['step payment', 'step vendor', 'step courier'];

describe('an order in its caller’s trace', () => {
  it('continues the trace: the server span is the caller span’s child, each step its span with its thread', async () => {
    const service = await start();
    const caller = { traceId: hex(16), spanId: hex(8) };
    const { status, body, traceresponse } = await orderInTrace(service, orderBody(), caller);
    expect(status).toBe(200);
    expect(traceresponse).toMatch(new RegExp(`^00-${caller.traceId}-[0-9a-f]{16}-01$`));

    const spans = await spansOnceExported(caller.traceId, [...STEP_SPANS, 'wait for a courier']);
    const server = spans.find((span) => span.kind === SPAN_KIND_SERVER)!;
    expect(server).toMatchObject({
      name: 'POST /order',
      parentSpanId: caller.spanId,
      serviceName: 'order-threads-test',
    });
    expect(traceresponse).toBe(`00-${caller.traceId}-${server.spanId}-01`);
    expect(server.attributes).toMatchObject({ 'http.response.status_code': 200, 'order.id': body.order_id });
    for (const step of body.steps ?? []) {
      const span = named(spans, `step ${step.name}`);
      expect(span.parentSpanId).toBe(server.spanId);
      expect(span.attributes).toMatchObject({ 'thread.id': step.thread_id, 'step.status': 'ok', 'step.attempts': 1 });
      // Inside the request's span, on the same clock.
      expect(span.startMs).toBeGreaterThanOrEqual(server.startMs - 1);
      expect(span.endMs).toBeLessThanOrEqual(server.endMs + 1);
      const wait = spans.find((s) => s.name === 'wait for a thread' && s.parentSpanId === span.spanId);
      expect(wait?.attributes['thread.id']).toBe(step.thread_id);
    }
    expect(named(spans, 'wait for a courier').parentSpanId).toBe(named(spans, 'step courier').spanId);
    await expectAtRest(service, 2);
  });

  it('a declined order: the payment span says payment_declined, the others their cancellation and its cause', async () => {
    const service = await start();
    const caller = { traceId: hex(16), spanId: hex(8) };
    const { status } = await orderInTrace(
      service,
      orderBody({ fail_step: 'payment', delay_ms: { payment: 20, vendor: 2000, courier: 2000 } }),
      caller,
    );
    expect(status).toBe(400);
    const spans = await spansOnceExported(caller.traceId, STEP_SPANS);
    expect(named(spans, 'step payment')).toMatchObject({
      statusCode: STATUS_ERROR,
      statusMessage: 'payment_declined',
      attributes: expect.objectContaining({ 'step.status': 'error', 'error.type': 'payment_declined' }),
    });
    for (const name of ['step vendor', 'step courier'])
      expect(named(spans, name)).toMatchObject({
        events: ['canceled'],
        attributes: expect.objectContaining({ 'step.status': 'canceled', 'step.cancel_cause': 'payment_declined' }),
      });
    const server = spans.find((span) => span.kind === SPAN_KIND_SERVER)!;
    expect(server.attributes).toMatchObject({ 'http.response.status_code': 400, 'error.type': 'payment_declined' });
    await expectAtRest(service, 2);
  });

  it('a step whose thread is killed still has its span, with the fate of its thread; the refund has its own', async () => {
    const service = await start({ threads: 1 });
    const caller = { traceId: hex(16), spanId: hex(8) };
    const { status, body } = await orderInTrace(
      service,
      orderBody({ delay_ms: { payment: 20, vendor: 2000, courier: 2000 }, faults: { payment: 'crash' } }),
      caller,
    );
    expect(status).toBe(500);
    const spans = await spansOnceExported(caller.traceId, [...STEP_SPANS, 'compensation refund']);
    const payment = named(spans, 'step payment');
    expect(payment.attributes).toMatchObject({
      'thread.fate': 'died',
      'step.status': 'error',
      'error.type': 'internal',
      'thread.id': body.steps?.[0]?.thread_id,
    });
    // Its neighbours on the same thread died with it, already canceled by the payment's failure.
    for (const name of ['step vendor', 'step courier'])
      expect(named(spans, name).attributes).toMatchObject({ 'thread.fate': 'died', 'step.status': 'canceled' });
    expect(named(spans, 'compensation refund').attributes).toMatchObject({
      'step.status': 'ok',
      'step.effect': 'applied',
    });
    await eventually(
      () => service.health(),
      (health) => health.threads === 1,
    );
    await expectAtRest(service, 1);
  });

  it('a step run again after its thread died under it: a span per attempt, the first with the thread’s fate', async () => {
    const service = await start({ threads: 1 });
    const neighbour = orderInTrace(service, orderBody({ delay_ms: { payment: 0, vendor: 600, courier: 0 } }), {
      traceId: hex(16),
      spanId: hex(8),
    });
    await eventually(
      () => service.health(),
      (health) => health.running_steps === 1,
    );
    const killer = await orderInTrace(
      service,
      orderBody({ delay_ms: { payment: 20, vendor: 0, courier: 0 }, faults: { payment: 'crash' } }),
      undefined,
    );
    expect(killer.status).toBe(500);
    const { status, traceresponse } = await neighbour;
    expect(status).toBe(200);
    const traceId = traceresponse!.split('-')[1]!;
    const spans = await spansOnceExported(traceId, ['step vendor', 'attempt 1', 'attempt 2']);
    const vendor = named(spans, 'step vendor');
    expect(vendor.attributes).toMatchObject({ 'step.attempts': 2, 'thread.fate': 'died', 'step.status': 'ok' });
    const attempts = spans.filter((span) => span.parentSpanId === vendor.spanId && span.name.startsWith('attempt'));
    expect(attempts.map((span) => [span.name, span.attributes['thread.fate']])).toEqual([
      ['attempt 1', 'died'],
      ['attempt 2', undefined],
    ]);
    await expectAtRest(service, 1);
  });

  it('without a traceparent a trace starts; http/protobuf carries it too', async () => {
    const service = await start({ tracing: tracingTo('http/protobuf') });
    const { status, traceresponse } = await orderInTrace(service, orderBody(), undefined);
    expect(status).toBe(200);
    const [, traceId, spanId] = traceresponse!.split('-');
    // The ids, as protobuf's bytes fields carry them.
    await eventually(
      async () => receiver.protobufBodies,
      (bodies) =>
        bodies.some((b) => b.includes(Buffer.from(traceId!, 'hex')) && b.includes(Buffer.from(spanId!, 'hex'))),
    );
    expect(receiver.contentTypes).toContain('application/x-protobuf');
    await expectAtRest(service, 2);
  });
});

/**
 * An order sent in a trace to a client with an endpoint whose first attempt of each event fails: the delivery's spans,
 * a failed attempt and a delivered one, each a root in the order's trace linked to the order's server span.
 */
async function expectDeliveriesTraced(config: Partial<Config>): Promise<void> {
  const acme = 'acme_key_0123456789abcdefghijklmnopqrstuv';
  const service = await start({
    access: {
      mode: 'keys',
      clients: [{ client: 'acme', key: acme }],
      adminKeys: ['admin_key_ZYXWVUTSRQPONMLKJIHGFEDCBA0123'],
    },
    events: { ...TEST_CONFIG.events, allowPrivateTargets: true, retryFirstMs: 20 },
    ...config,
  });
  const hook = await startReceiver();
  try {
    // The first attempt of each event fails: a failed attempt's span, then a delivered one's.
    hook.answer = (_delivery, attempt) => (attempt === 1 ? 500 : 204);
    const registered = await fetch(new URL('/webhooks', service.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${acme}` },
      body: JSON.stringify({ url: hook.url }),
    });
    expect(registered.status).toBe(201);
    const { id: endpointId } = (await registered.json()) as { id: string };
    const caller = { traceId: hex(16), spanId: hex(8) };
    const { status, body } = await orderInTrace(service, orderBody(), caller, acme);
    expect(status).toBe(200);

    // The retry's span comes through two schedules of a second each: the queue's poll for a job due later (on
    // Postgres) and the exporter's batch. A full run on a busy machine once took more than 5 s for the lot.
    const spans = await eventually(
      async () => receiver.spansOf(caller.traceId),
      (all) => all.filter((span) => span.name === 'webhook order.succeeded').length === 2,
      { within: 15_000 },
    );
    const server = spans.find((span) => span.kind === SPAN_KIND_SERVER)!;
    const eventId = hook.deliveries[0]!.headers['webhook-id'];
    const attempts = spans
      .filter((span) => span.name === 'webhook order.succeeded')
      .sort((a, b) => Number(a.attributes['webhook.attempt']) - Number(b.attributes['webhook.attempt']));
    for (const span of attempts)
      expect(span).toMatchObject({
        kind: SPAN_KIND_CLIENT,
        parentSpanId: '',
        links: [{ traceId: caller.traceId, spanId: server.spanId }],
        attributes: expect.objectContaining({
          'webhook.endpoint.id': endpointId,
          'webhook.event.id': eventId,
          'webhook.event.type': 'order.succeeded',
          'order.id': body.order_id,
        }),
      });
    expect(attempts[0]).toMatchObject({
      statusCode: STATUS_ERROR,
      attributes: expect.objectContaining({
        'webhook.attempt': 1,
        'webhook.outcome': 'failed',
        'http.response.status_code': 500,
      }),
    });
    expect(attempts[1]!.attributes).toMatchObject({
      'webhook.attempt': 2,
      'webhook.outcome': 'delivered',
      'http.response.status_code': 204,
    });
    // Once the outcome is recorded, in the relay's own turn: it may start before the answer leaves, never before the request came.
    expect(attempts[0]!.startMs).toBeGreaterThanOrEqual(server.startMs - 1);
    await expectAtRest(service, 2);
  } finally {
    await hook.close();
  }
}

describe('a webhook delivery', () => {
  it('is a span per attempt in the order’s trace, a root linked to the order’s server span, with its outcome', () =>
    expectDeliveriesTraced({}));
});

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`a webhook delivery on Postgres${POSTGRES_SKIPPED}`, () => {
  let postgres: TestPostgres | undefined;
  beforeAll(async () => {
    postgres = await startTestPostgres();
  });
  afterAll(async () => {
    await postgres?.stop();
  });

  it('the event keeps the order’s trace in its row: the delivery job’s spans link to it', async () => {
    const databaseUrl = await freshDatabase(postgres!);
    await expectDeliveriesTraced({ durable: { databaseUrl, leaseMs: 3000, poolSize: 4 } });
  });
});

describe('traceidratio, for callers not trusted', () => {
  it('samples by a draw of its own, never by the trace id a caller chose: a chosen id is kept at the ratio, as any', async () => {
    const service = await start({ tracing: { ...tracingTo(), sampler: 'traceidratio', samplerRatio: 0.01 } });
    const sampledOf = async (caller: () => { traceId: string; spanId: string }): Promise<number> => {
      let sampled = 0;
      for (let i = 0; i < 100; i++) {
        const instant = { payment: 0, vendor: 0, courier: 0 };
        const { status, traceresponse } = await orderInTrace(service, orderBody({ delay_ms: instant }), caller());
        expect(status).toBe(200);
        if (traceresponse!.endsWith('-01')) sampled++;
      }
      return sampled;
    };
    // A trace id whose every 32-bit word XORs to 1: below any ratio's bound of a sampler that decides by the trace id.
    const chosen = await sampledOf(() => ({ traceId: '00000000000000000000000000000001', spanId: hex(8) }));
    const drawn = await sampledOf(() => ({ traceId: hex(16), spanId: hex(8) }));
    console.log(`traceidratio 1%: a chosen trace id sampled ${chosen} of 100, random ones ${drawn} of 100`);
    // Before: 100 of 100 with the chosen id. At 1%, more than 10 of 100 comes once in some 10^8 runs.
    expect(chosen).toBeLessThanOrEqual(10);
    expect(drawn).toBeLessThanOrEqual(10);
    await expectAtRest(service, 2);
  });
});

describe('with no endpoint', () => {
  it('exports nothing, yet the response carries the trace id, the caller’s if it sent one', async () => {
    const service = (svc = await startTestService());
    const caller = { traceId: hex(16), spanId: hex(8) };
    const continued = await orderInTrace(service, orderBody(), caller);
    expect(continued.traceresponse).toMatch(new RegExp(`^00-${caller.traceId}-[0-9a-f]{16}-00$`));
    const started = await orderInTrace(service, orderBody(), undefined);
    expect(started.traceresponse).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(receiver.spansOf(caller.traceId)).toEqual([]);
  });
});
