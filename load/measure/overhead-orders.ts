/**
 * The `overhead` scenario's orders driven at a server for the cost scripts
 * (tracing-cost, webhook-cost): at a fixed rate or saturated, each
 * order with an id of its own — order_id is the idempotency key, and
 * repeated ids would measure replays, not orders — and the CPU time of the
 * server's main thread, which is what limits throughput.
 */
import autocannon from 'autocannon';
import { cpuTimeOf } from '../lib/proc.js';
import { SCENARIOS } from '../suite/scenarios.js';
import type { ServerProcess } from '../lib/server-process.js';

export const overhead = SCENARIOS.find((scenario) => scenario.name === 'overhead')!;

const runTag = Date.now().toString(36);
let sent = 0;

/** CPU seconds the server's main thread has used. */
export const mainThreadCpuSeconds = (server: ServerProcess): number =>
  cpuTimeOf(server.child.pid!)?.mainThreadSec ?? NaN;

/** `seconds` of orders at `rate` per second, or as fast as they are answered (undefined). */
export async function driveOverhead(
  server: ServerProcess,
  seconds: number,
  rate: number | undefined,
  headers: Readonly<Record<string, string>> = {},
): Promise<{ requests: number; perSecond: number; non2xx: number; p99Ms: number }> {
  const result = await autocannon({
    url: new URL('/order', server.url).href,
    connections: overhead.connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        setupRequest: (request) => ({
          ...request,
          body: JSON.stringify({ ...overhead.order(sent), order_id: `${runTag}-${sent++}` }),
        }),
      },
    ],
    ...(rate ? { overallRate: rate } : {}),
  });
  return {
    requests: result.requests.total,
    perSecond: result.requests.average,
    non2xx: result.non2xx,
    p99Ms: result.latency.p99,
  };
}
