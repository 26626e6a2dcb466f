/**
 * The lean build (load/lean/), which the comparison sets beside the service as the floor of its stack, answers the
 * orders of the comparison's scenarios as the Go service does: the statuses, the steps in order, the first failure
 * canceling the rest, five couriers, and the Go service's words for a body it refuses. Run as the load suite runs it:
 * a process of its own, with the service's V8 flags.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiledModule, pathOf } from '../../src/paths.js';
import { startServerProcess, type ServerProcess } from '../../load/lib/server-process.js';

let server: ServerProcess;
let n = 0;

beforeAll(async () => {
  server = await startServerProcess({}, { main: pathOf(compiledModule('load/lean/server')) });
});

afterAll(async () => {
  server.child.kill('SIGTERM');
  await server.exited;
});

interface Answer {
  readonly status: number;
  readonly body: {
    readonly status: string;
    readonly order_id?: string;
    readonly steps?: ReadonlyArray<{ name: string; status: string; duration_ms: number; detail?: string }>;
    readonly error?: { kind: string; message?: string };
  };
}

async function order(body: Record<string, unknown> | string): Promise<Answer> {
  const response = await fetch(new URL('/order', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify({ order_id: `lean-${++n}`, amount: 1200, ...body }),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

const stepsOf = (answer: Answer): string[] => (answer.body.steps ?? []).map((s) => `${s.name} ${s.status}`);

describe('the lean build answers the comparison as the Go service does', () => {
  it('an order of the overhead scenario: 200, its three steps ok in order', async () => {
    const answer = await order({ delay_ms: { payment: 1, vendor: 1, courier: 1, refund: 1 } });
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe('ok');
    expect(stepsOf(answer)).toEqual(['payment ok', 'vendor ok', 'courier ok']);
  });

  it("light's: the default delays, the vendor's 200 ms the slowest", async () => {
    const started = performance.now();
    const answer = await order({});
    expect(answer.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(195);
    // Each step took its default delay, with room for a busy machine's late timers.
    const durations = answer.body.steps?.map((s) => s.duration_ms) ?? [];
    [150, 200, 100].forEach((delay, i) => {
      expect(durations[i]).toBeGreaterThanOrEqual(delay - 1);
      expect(durations[i]).toBeLessThan(delay + 150);
    });
  });

  it("fail-fast's: 400 at the payment's decline, the steps that would take 800 ms canceled at once", async () => {
    const started = performance.now();
    const answer = await order({ fail_step: 'payment', delay_ms: { payment: 150, vendor: 800, courier: 800 } });
    expect(answer.status).toBe(400);
    expect(performance.now() - started).toBeLessThan(600);
    expect(answer.body.error).toEqual({ kind: 'payment_declined', message: 'order failed' });
    expect(stepsOf(answer)).toEqual(['payment error', 'vendor canceled', 'courier canceled']);
    expect(answer.body.steps?.[0]?.detail).toBe('payment_declined');
  });

  it.each([
    ['vendor', 503, 'vendor_unavailable'],
    ['courier', 503, 'no_courier'],
  ])('a failing %s: %i %s', async (step, status, kind) => {
    const answer = await order({ fail_step: step, delay_ms: { payment: 1, vendor: 1, courier: 1 } });
    expect(answer.status).toBe(status);
    expect(answer.body.error?.kind).toBe(kind);
  });

  it('five couriers: ten orders holding one 150 ms each take two turns', async () => {
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => order({ delay_ms: { payment: 1, vendor: 1, courier: 150 } })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(performance.now() - started).toBeGreaterThanOrEqual(295);
  });

  // Its courier step waits in the line or, had it come before the holders (their requests race its own on a busy
  // machine: beside the quick suite one got a courier first and ended ok), holds a courier for 5 s: canceled either
  // way, it gives its place back, and the holders and the next order are served.
  it('a canceled order gives back its place among the couriers, and the line goes on', async () => {
    const holders = Array.from({ length: 5 }, () => order({ delay_ms: { payment: 1, vendor: 1, courier: 400 } }));
    const canceled = await order({ fail_step: 'payment', delay_ms: { payment: 50, vendor: 1, courier: 5000 } });
    expect(canceled.status).toBe(400);
    expect(stepsOf(canceled)).toContain('courier canceled');
    expect((await Promise.all(holders)).map((a) => a.status)).toEqual(Array(5).fill(200));
    expect((await order({ delay_ms: { payment: 1, vendor: 1, courier: 1 } })).status).toBe(200);
  });

  it.each([
    ['not JSON', 'nope', 'invalid JSON'],
    ['an unknown field', { surprise: 1 }, 'invalid JSON'],
    ['no amount', { amount: 0 }, 'order_amount should be > 0'],
    ['no order_id', '{"amount":5}', 'order_id is required'],
  ])('%s: 400 bad_request, in the Go service words', async (_case, body, message) => {
    const answer = await order(body);
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ status: 'error', error: { kind: 'bad_request', message } });
  });
});
