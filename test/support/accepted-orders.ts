/**
 * Orders accepted now and answered later (`Prefer: respond-async`), as the
 * durable mode's process tests send them to instances on Postgres.
 */
import type { ServerProcess } from '../../load/lib/server-process.js';
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
 * Once the only order on `databaseUrl` has its payment and courier recorded ok (sent with no delay for either): its
 * vendor is what still runs.
 */
export const vendorStillRunning = (databaseUrl: string): Promise<unknown> =>
  eventually(
    () => sql<{ n: number }>(databaseUrl, `SELECT count(*)::int AS n FROM order_steps WHERE outcome = 'ok'`),
    ([row]) => row!.n === 2,
  );
