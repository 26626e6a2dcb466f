/**
 * Orders sent with `Prefer: respond-async` at a steady rate, from a process of its own (load/measure/accept-latency.ts
 * forks it), as from another machine: a probe sharing its event loop with the load's 50 connections would time that
 * loop's delays, not the server's. Each order leaves on its own timer whether or not the one before was answered (open
 * loop: a slow answer does not hide the ones behind it). Half a period after each, a GET /healthz: what any request
 * waits for the server's event loop at that moment, the baseline the 202s are read against. Told its orders in argv as
 * JSON; sends back each answer's time in milliseconds on the IPC channel, and fails on any unexpected answer.
 */
export interface AcceptProbe {
  readonly url: string;
  readonly seconds: number;
  readonly perSecond: number;
  /** Unique to the probe: order_id is the idempotency key, and a repeated one would be a replay. */
  readonly prefix: string;
  /** Each order's fields, beside its order_id. */
  readonly fields: Record<string, unknown>;
}

/** Each answer's time, in milliseconds. */
export interface AcceptTimes {
  readonly accepted: readonly number[];
  readonly health: readonly number[];
}

const probe = JSON.parse(process.argv[2]!) as AcceptProbe;
const WARM_UP_REQUESTS = 50;

async function healthOnce(): Promise<number> {
  const sent = performance.now();
  const answer = await fetch(new URL('/healthz', probe.url));
  const tookMs = performance.now() - sent;
  await answer.arrayBuffer();
  if (answer.status !== 200) throw new Error(`/healthz answered ${answer.status}`);
  return tookMs;
}

async function acceptOne(n: number): Promise<number> {
  const orderId = `${probe.prefix}-${n}`;
  const sent = performance.now();
  const answer = await fetch(new URL('/order', probe.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'respond-async' },
    body: JSON.stringify({ ...probe.fields, order_id: orderId }),
  });
  const tookMs = performance.now() - sent;
  await answer.arrayBuffer();
  if (answer.status !== 202 || answer.headers.get('location') !== `/orders/${orderId}`)
    throw new Error(`${orderId}: answered ${answer.status}, Location ${answer.headers.get('location')}`);
  return tookMs;
}

const until = (at: number): Promise<unknown> | undefined => {
  const wait = at - performance.now();
  return wait > 0 ? new Promise((resolve) => setTimeout(resolve, wait)) : undefined;
};
// A fresh process's first fetches load and compile its HTTP client and open its connection: tens of milliseconds
// that are the probe's, not the server's (its first requests set the p99 of an idle server at 40 ms). Not timed.
for (let n = 0; n < WARM_UP_REQUESTS; n++) await healthOnce();
const accepted: Promise<number>[] = [];
const health: Promise<number>[] = [];
const everyMs = 1000 / probe.perSecond;
const start = performance.now();
for (let n = 0; n < probe.seconds * probe.perSecond; n++) {
  await until(start + n * everyMs);
  accepted.push(acceptOne(n));
  await until(start + (n + 0.5) * everyMs);
  health.push(healthOnce());
}
const times: AcceptTimes = { accepted: await Promise.all(accepted), health: await Promise.all(health) };
process.send!(times, undefined, undefined, () => process.disconnect!());
