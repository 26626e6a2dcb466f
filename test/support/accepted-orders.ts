/**
 * Orders accepted now and answered later (`Prefer: respond-async`), as the
 * durable mode's process tests send them to instances on Postgres.
 */
import type { ServerProcess } from '../../load/lib/server-process.js';
import { orderBody } from './orders.js';
import { sql } from './postgres.js';
import { eventually } from './wait.js';

/** The order sent to be answered later: 202, or the status and body of what was answered instead (or the failure). */
export async function acceptAnswer(target: ServerProcess, body: Record<string, unknown>): Promise<202 | string> {
  const response = await fetch(new URL('/order', target.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'respond-async' },
    body: JSON.stringify(body),
  }).catch((error: unknown) => String(error));
  if (typeof response === 'string') return response;
  const text = await response.text();
  return response.status === 202 ? 202 : `${response.status} ${text}`;
}

/**
 * Order `orderId` of `amount` accepted on `target` with a deadline of its own (30 s) — the only order on `databaseUrl`
 * — once its payment and courier, done at once, are recorded ok: its vendor, `vendorMs` long, is what still runs.
 */
export async function acceptedVendorRunning(
  databaseUrl: string,
  target: ServerProcess,
  { orderId, amount, vendorMs }: { readonly orderId: string; readonly amount: number; readonly vendorMs: number },
): Promise<void> {
  const body = orderBody({
    order_id: orderId,
    amount,
    deadline_ms: 30_000,
    delay_ms: { payment: 0, vendor: vendorMs, courier: 0 },
  });
  const answer = await acceptAnswer(target, body);
  if (answer !== 202) throw new Error(`order ${orderId} was not accepted: ${answer}`);
  await eventually(
    () => sql<{ n: number }>(databaseUrl, `SELECT count(*)::int AS n FROM order_steps WHERE outcome = 'ok'`),
    ([row]) => row!.n === 2,
  );
}
