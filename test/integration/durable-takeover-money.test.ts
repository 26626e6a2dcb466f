/**
 * The money of a run taken over, with real processes on a real Postgres. A payment's charge leaves as its step starts,
 * long before its end is recorded, so a run lost with its instance may have charged under its key with nothing on
 * record. When the run taken over then fails, or is canceled, before its own request reaches the provider, the run is
 * settled as a whole: its payment is voided whatever this attempt did, so the client who retries is not charged twice.
 */
import { describe, expect, it } from 'vitest';
import type { ServerProcess } from '../../load/lib/server-process.js';
import { orderBody } from '../support/orders.js';
import { freshDatabase, POSTGRES_SKIPPED, POSTGRES_UNAVAILABLE } from '../support/postgres.js';
import { usePostgresInstances } from '../support/server-instances.js';
import { eventually } from '../support/wait.js';
import { readFollowingRetryAfter } from '../support/http.js';

const postgres = usePostgresInstances();

/** Short, so that the takeover comes within the test; long enough not to lapse on a busy machine. */
const LEASE_MS = 2000;
const AMOUNT = 2500;

interface OrderStatus {
  readonly state: string;
  readonly outcome: { readonly kind: string } | null;
  readonly payment: { readonly charged: number; readonly refunded: number };
}

async function orderStatus(target: ServerProcess, orderId: string): Promise<OrderStatus | undefined> {
  const response = await readFollowingRetryAfter(new URL(`/orders/${orderId}`, target.url));
  return response.status === 404 ? undefined : ((await response.json()) as OrderStatus);
}

async function post(target: ServerProcess, path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(new URL(path, target.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(`a run taken over${POSTGRES_SKIPPED}`, () => {
  it('that fails before its own charge reaches the provider has the lost attempt’s charge voided: charged once, refunded once', async () => {
    const url = await freshDatabase(postgres.server());
    const env = { LEASE_MS: String(LEASE_MS), STEP_RETRIES: 'payment:0' };
    const [lost, survivor] = await Promise.all([postgres.instance(url, env), postgres.instance(url, env)]);
    // The survivor's payment provider is out: the run it takes over fails its payment without reaching it.
    expect((await post(survivor, '/admin/dependencies/payment', { outage: true })).status).toBe(200);
    const order = orderBody({
      amount: AMOUNT,
      deadline_ms: 30_000,
      delay_ms: { payment: 6000, vendor: 0, courier: 0 },
    });
    const orderId = order['order_id'] as string;
    expect((await post(lost, '/order', order, { prefer: 'respond-async' })).status).toBe(202);
    // The charge reached the provider as the payment began; its end, 6 s away, is not recorded.
    await eventually(
      () => orderStatus(lost, orderId),
      (status) => status?.payment.charged === AMOUNT,
    );
    lost.child.kill('SIGKILL');
    const ended = await eventually(
      () => orderStatus(survivor, orderId),
      (status) => status?.state === 'done',
      { within: 25_000, every: 100 },
    );
    expect(ended?.outcome?.kind).toBe('payment_unavailable');
    expect(ended?.payment).toEqual({ charged: AMOUNT, refunded: AMOUNT });
  });
});
