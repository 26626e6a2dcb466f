/**
 * Tracing as only a whole process shows it, with an OTLP/HTTP receiver on
 * loopback: every log line of an order — the main thread's and its worker
 * threads' — carries its trace id; SIGTERM during load exports the spans of
 * every order that was answered before the process exits; and with
 * INSTANCES=2 on Postgres, an order's statements are spans of its trace.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../../load/lib/server-process.js';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';
import { orderBody } from '../support/orders.js';
import {
  freshDatabase,
  POSTGRES_SKIPPED,
  POSTGRES_UNAVAILABLE,
  startTestPostgres,
  type TestPostgres,
} from '../support/postgres.js';
import { eventually } from '../support/wait.js';

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

let receiver: OtlpReceiver;
let server: ServerProcess | undefined;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterEach(async () => {
  if (server && server.child.exitCode === null && server.child.signalCode === null) {
    server.child.kill('SIGTERM');
    await Promise.race([server.exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    server.child.kill('SIGKILL');
  }
  await server?.exited;
  server = undefined;
});
afterAll(async () => {
  await receiver.close();
});

async function start(env: Record<string, string> = {}): Promise<ServerProcess> {
  server = await startServerProcess({
    THREADS: '2',
    LOG_LEVEL: 'info',
    LOG_BUFFER: 'off',
    FAULT_INJECTION: 'on',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    ...env,
  });
  return server;
}

async function post(
  target: ServerProcess,
  body: Record<string, unknown>,
  traceparent?: string,
): Promise<{ status: number; traceId: string }> {
  const response = await fetch(new URL('/order', target.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(traceparent ? { traceparent } : {}) },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
  return { status: response.status, traceId: response.headers.get('traceresponse')?.split('-')[1] ?? '' };
}

const parsed = (lines: readonly string[]): Array<Record<string, unknown>> =>
  lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });

describe('log lines', () => {
  it('every line of an order, on the main thread and on its threads, carries its trace id', async () => {
    const target = await start({ LOG_LEVEL: 'debug' });
    const orders = [
      { body: orderBody(), lines: 4 },
      { body: orderBody({ fail_step: 'vendor', delay_ms: { payment: 10, vendor: 30, courier: 500 } }), lines: 4 },
      {
        body: orderBody({ delay_ms: { payment: 20, vendor: 500, courier: 500 }, faults: { payment: 'crash' } }),
        lines: 3,
      },
    ];
    for (const { body, lines } of orders) {
      const traceId = hex(16);
      const { status } = await post(target, body, `00-${traceId}-${hex(8)}-01`);
      expect(status).toBeGreaterThanOrEqual(200);
      const ofOrder = await eventually(
        async () => parsed(target.stdout).filter((line) => line['order_id'] === body['order_id']),
        (found) => found.length >= lines,
      );
      expect(ofOrder.filter((line) => line['trace_id'] !== traceId)).toEqual([]);
      // Written by the worker threads (their logger's base names the thread) and by the main thread.
      expect(ofOrder.some((line) => typeof line['thread_id'] === 'number' && 'duration_ms' in line)).toBe(true);
      expect(ofOrder.some((line) => line['path'] === '/order')).toBe(true);
    }
  });
});

describe('SIGTERM during load', () => {
  it('exports the spans of every order that was answered before the process exits', async () => {
    const target = await start({ THREADS: '2' });
    const answered: string[] = [];
    let sending = true;
    const client = async (): Promise<void> => {
      while (sending) {
        try {
          const { status, traceId } = await post(
            target,
            orderBody({ delay_ms: { payment: 50, vendor: 150, courier: 100 } }),
          );
          if (traceId) answered.push(traceId);
          if (status === 503) return;
        } catch {
          return; // the server stopped listening
        }
      }
    };
    const clients = Array.from({ length: 40 }, () => client());
    await eventually(
      async () => answered.length,
      (count) => count >= 100,
      { within: 20_000 },
    );
    target.child.kill('SIGTERM');
    expect(await target.exited).toMatchObject({ code: 0 });
    sending = false;
    await Promise.all(clients);
    const servers = new Set(receiver.spans.filter((span) => span.kind === SPAN_KIND_SERVER).map((s) => s.traceId));
    const missing = answered.filter((traceId) => !servers.has(traceId));
    expect({ answered: answered.length, missing }).toEqual({ answered: answered.length, missing: [] });
    const steps = new Map<string, number>();
    for (const span of receiver.spans)
      if (span.name.startsWith('step ')) steps.set(span.traceId, (steps.get(span.traceId) ?? 0) + 1);
    // Every order that ran (the drain's refusals ran nothing) has its three steps.
    const ran = answered.filter((traceId) => steps.has(traceId));
    expect(ran.length).toBeGreaterThan(100);
    expect(ran.filter((traceId) => steps.get(traceId) !== 3)).toEqual([]);
  }, 60_000);
});

let postgres: TestPostgres | undefined;
describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`INSTANCES=2 on Postgres${POSTGRES_SKIPPED}`, () => {
  beforeAll(async () => {
    postgres = await startTestPostgres();
  });
  afterAll(async () => {
    await postgres?.stop();
  });

  it('an order’s statements are spans in its trace, children of its request’s span', async () => {
    const url = await freshDatabase(postgres!);
    const target = await start({ INSTANCES: '2', DATABASE_URL: url, LOG_LEVEL: 'warn' });
    // Several orders, so that both instances serve some.
    for (let i = 0; i < 4; i++) {
      const traceId = hex(16);
      const callerSpan = hex(8);
      const declined = i % 2 === 1;
      const { status } = await post(
        target,
        orderBody(declined ? { fail_step: 'payment', delay_ms: { payment: 1, vendor: 2000, courier: 2000 } } : {}),
        `00-${traceId}-${callerSpan}-01`,
      );
      expect(status).toBe(declined ? 400 : 200);
      // The charge, the run begun and finished; and, of an order that succeeds, the vendor's and the courier
      // service's effects asked of their books (a declined order's vendor and courier are canceled long before their
      // calls are answered).
      const expected = [
        'postgres charge',
        'postgres order_begin',
        'postgres order_finish',
        ...(declined ? [] : ['postgres service_request', 'postgres service_request']),
      ];
      const spans = await eventually(
        async () => receiver.spansOf(traceId),
        (found) =>
          found.some((span) => span.kind === SPAN_KIND_SERVER) &&
          found.filter((span) => span.kind === SPAN_KIND_CLIENT).length >= expected.length,
      );
      const request = spans.find((span) => span.kind === SPAN_KIND_SERVER)!;
      expect(request.parentSpanId).toBe(callerSpan);
      const statements = spans.filter((span) => span.kind === SPAN_KIND_CLIENT);
      expect(statements.map((span) => span.name).sort()).toEqual(expected);
      for (const statement of statements) {
        expect(statement.parentSpanId).toBe(request.spanId);
        expect(statement.attributes).toMatchObject({ 'db.system.name': 'postgresql' });
      }
    }
  }, 60_000);
});
