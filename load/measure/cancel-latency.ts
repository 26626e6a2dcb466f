/**
 * How long does a cancel take to reach a running step's code, on one instance and across two?
 * Kept in: docs/decisions/cancellation.md
 * Orders whose payment is taken at once and whose vendor and courier sleep for seconds, each canceled once charged —
 * on the instance that runs it, or (with DATABASE_URL, two instances) on the other. Reported, from the cancel sent:
 * to the later of its two steps' code seeing it (the `<step> canceled` line each writes on its own thread at debug
 * level, stamped in milliseconds by the same clock), to the order's own 409 canceled answer received (which also
 * waits for the refund and the record), and to the cancel's own answer. `npm run measure -- cancel-latency`
 */
import { readFileSync } from 'node:fs';
import { parseCommandLine } from '../lib/command-line.js';
import { progress } from '../lib/rounds.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { summarize } from '../lib/stats.js';
import { serverLog } from './server-logs.js';

const { values: options } = parseCommandLine(
  {
    command: 'npm run measure -- cancel-latency',
    summary: 'A cancel of a running order: to its steps (its own answer) and to the cancel’s answer, p50/p99.',
    notes: ['With DATABASE_URL set, also across two instances on that Postgres (npm run -s db starts one).'],
  },
  {
    orders: { type: 'integer', default: 200, min: 1, help: 'orders canceled on each setup' },
    concurrency: { type: 'integer', default: 4, min: 1, help: 'orders under way at once' },
    'warm-up': { type: 'integer', default: 40, min: 0, help: 'orders canceled first on each setup, not counted' },
  },
);

interface Timed {
  readonly orderId: string;
  /** When the cancel was sent, in milliseconds since the epoch: the clock the server's log lines are stamped with. */
  readonly sentAtMs: number;
  readonly toOrderMs: number;
  readonly toCancelMs: number;
}

const slow = (orderId: string): string =>
  JSON.stringify({
    order_id: orderId,
    amount: 700,
    delay_ms: { payment: 0, vendor: 10_000, courier: 10_000, refund: 0 },
  });

/** One order run on `runs`, canceled through `cancels` once charged. */
async function cancelOne(runs: ServerProcess, cancels: ServerProcess, orderId: string): Promise<Timed> {
  const answered = fetch(new URL('/order', runs.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: slow(orderId),
  });
  for (;;) {
    const found = await fetch(new URL(`/orders/${orderId}`, cancels.url));
    if (found.status === 200 && ((await found.json()) as { payment: { charged: number } }).payment.charged > 0) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const sent = performance.now();
  const sentAtMs = performance.timeOrigin + sent;
  let toOrderMs = 0;
  const order = answered.then(async (response) => {
    toOrderMs = performance.now() - sent;
    return { status: response.status, body: (await response.json()) as { error?: { kind: string } } };
  });
  const cancel = await fetch(new URL(`/orders/${orderId}/cancel`, cancels.url), { method: 'POST' });
  const toCancelMs = performance.now() - sent;
  const status = (await cancel.json()) as { lifecycle: string; payment: { charged: number; refunded: number } };
  const { status: orderStatus, body } = await order;
  if (cancel.status !== 200 || status.lifecycle !== 'canceled' || status.payment.charged !== status.payment.refunded)
    throw new Error(`${orderId}: cancel answered ${cancel.status} ${JSON.stringify(status)}`);
  if (orderStatus !== 409 || body.error?.kind !== 'canceled')
    throw new Error(`${orderId}: the order answered ${orderStatus} ${JSON.stringify(body)}`);
  return { orderId, sentAtMs, toOrderMs, toCancelMs };
}

/** `count` orders canceled, `concurrency` at once. */
async function cancelMany(
  runs: ServerProcess,
  cancels: ServerProcess,
  prefix: string,
  count: number,
): Promise<Timed[]> {
  const timed: Timed[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) timed.push(await cancelOne(runs, cancels, `${prefix}-${next++}`));
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return timed;
}

/** Order ids of this run: a database kept from an earlier run would replay its orders. */
const RUN = Date.now().toString(36);

/** From each order's cancel sent to the later of its vendor's and courier's code seeing it, in the log of `runs`. */
function toStepsMs(runs: ServerProcess, timed: readonly Timed[]): number[] {
  const sentAt = new Map(timed.map((t) => [t.orderId, t.sentAtMs]));
  const seenAt = new Map<string, number>();
  for (const line of readFileSync(runs.logFile!, 'utf8').split('\n')) {
    if (!line.includes(' canceled"')) continue;
    const { msg, order_id: orderId, time } = JSON.parse(line) as { msg: string; order_id?: string; time: number };
    if (orderId === undefined || !sentAt.has(orderId) || !/^(vendor|courier) canceled$/.test(msg)) continue;
    seenAt.set(orderId, Math.max(seenAt.get(orderId) ?? 0, time));
  }
  if (seenAt.size !== sentAt.size) throw new Error(`${sentAt.size - seenAt.size} orders' steps never said canceled`);
  return [...seenAt].map(([orderId, time]) => time - sentAt.get(orderId)!);
}

async function measure(name: string, runs: ServerProcess, cancels: ServerProcess): Promise<void> {
  const prefix = `${RUN}-${name.replace(/\W+/g, '-')}`;
  // The first orders of a fresh server pay for compiling its code: not what a cancel costs.
  await cancelMany(runs, cancels, `${prefix}-warm`, options['warm-up']);
  const timed = await cancelMany(runs, cancels, prefix, options.orders);
  const toSteps = summarize(toStepsMs(runs, timed));
  const toOrder = summarize(timed.map((t) => t.toOrderMs));
  const toCancel = summarize(timed.map((t) => t.toCancelMs));
  const row = (what: string, s: typeof toOrder) =>
    `${name.padEnd(14)} ${what.padEnd(26)} p50 ${s.p50.toFixed(1).padStart(6)} ms  p99 ${s.p99.toFixed(1).padStart(6)} ms  max ${s.max.toFixed(1).padStart(6)} ms`;
  console.log(row('cancel → steps’ code', toSteps));
  console.log(row('cancel → order answered', toOrder));
  console.log(row('cancel → cancel answered', toCancel));
}

async function server(name: string, env: Record<string, string>): Promise<ServerProcess> {
  return startServerProcess(
    // At debug level a step's code writes the line that says when it saw its cancellation.
    { THREADS: '2', LOG_LEVEL: 'debug', ORDER_TIMEOUT_MS: '30000', CLIENT_RATE_LIMIT: '0', ...env },
    { logFile: serverLog(name) },
  );
}

async function stop(...servers: ServerProcess[]): Promise<void> {
  for (const running of servers) running.child.kill('SIGTERM');
  await Promise.all(servers.map((running) => running.exited));
}

progress(`${options.orders} orders a setup, ${options.concurrency} at once`);
const alone = await server('one-instance', {});
try {
  await measure('one instance', alone, alone);
} finally {
  await stop(alone);
}
const databaseUrl = process.env['DATABASE_URL'];
if (databaseUrl) {
  const a = await server('instance-a', { DATABASE_URL: databaseUrl });
  const b = await server('instance-b', { DATABASE_URL: databaseUrl });
  try {
    await measure('one, durable', a, a);
    await measure('across two', a, b);
  } finally {
    await stop(a, b);
  }
} else progress('DATABASE_URL unset: not across instances');
