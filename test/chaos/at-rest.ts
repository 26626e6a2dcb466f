/**
 * The end of a run, once the nemesis has stopped and every process serves
 * again: wait until nothing runs, make every instance want couriers (so that
 * rows a dead identity held are taken back, and so that an instance whose
 * couriers were lost for good shows it), then observe what the checker
 * checks — every order through GET /orders/{id} (the provider's rows in
 * Postgres for an order the service has no record of), every instance's
 * /healthz, the courier rows, the error lines in the instances' output, and
 * each order's runs and takeovers (durable-rest.ts).
 */
import type { FinalOrder, InstanceAtRest, Money, Observations, RecordedOrder } from './checker.js';
import type { OrderBody } from './history.js';
import { everyAction } from '../../src/domain/steps.js';
import { call, getJson } from './http.js';
import { serviceLines } from './log-lines.js';
import { readBooks, readTakeovers } from './durable-rest.js';
import type { Supervisor } from './instances.js';
import type { ChaosPostgres } from './postgres.js';
import type { Workload } from './workload.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What src/observability/logging.ts writes when an order's payment could not be given back. */
const ALARM = 'a person must look';
/** GET /orders/{id} requests at once. */
const READERS = 8;

async function ordersRunning(postgres: ChaosPostgres): Promise<number> {
  const [row] = await postgres.query<{ n: number }>("SELECT count(*)::int AS n FROM orders WHERE state = 'running'");
  return row?.n ?? 0;
}

/** Until no order runs (in Postgres, on any instance), or `withinMs` has passed. */
export async function untilAtRest(supervisor: Supervisor, postgres: ChaosPostgres, withinMs: number): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (performance.now() < deadline) {
    const healths = await Promise.all(Array.from({ length: supervisor.size }, (_, i) => supervisor.health(i, 1000)));
    const idle = healths.every(
      (health) =>
        health !== undefined &&
        health.running_steps === 0 &&
        health.orders_in_flight === 0 &&
        (health.durable?.orders_running ?? 0) === 0,
    );
    if (idle && (await ordersRunning(postgres).catch(() => 1)) === 0) return;
    await sleep(200);
  }
}

/** A dependency's circuit breaker, as GET /admin/dependencies tells it (null: no breakers). */
export interface BreakerJson {
  readonly state: 'closed' | 'open' | 'half_open';
  readonly open_until: string | null;
}

/**
 * What an instance's breakers ask of the harness before its final probe: nothing (all closed), a wait until the first
 * open one lets a probe order through, or one order to be that probe (an outage the nemesis switched opened it, and a
 * breaker closes only on an order that succeeds: the probe's COURIERS + 1 orders at once would meet it half open, one
 * let through and the others refused with the dependency's kind).
 */
export function breakersAsk(breakers: readonly (BreakerJson | null)[], nowMs: number): 'closed' | 'probe' | number {
  const notClosed = breakers.filter(
    (breaker): breaker is BreakerJson => breaker !== null && breaker.state !== 'closed',
  );
  if (notClosed.length === 0) return 'closed';
  if (notClosed.some((breaker) => breaker.state === 'half_open')) return 'probe';
  const due = Math.min(...notClosed.map((breaker) => Date.parse(breaker.open_until ?? '') || nowMs));
  return due <= nowMs ? 'probe' : due - nowMs;
}

/** Every instance's breakers closed, each with one order as its probe where one is open; within `withinMs`. */
export async function untilBreakersClosed(
  workload: Workload,
  supervisor: Supervisor,
  idPrefix: string,
  withinMs: number,
): Promise<void> {
  const deadline = performance.now() + withinMs;
  let probes = 0;
  for (let i = 0; i < supervisor.size; i++) {
    while (performance.now() < deadline) {
      const read = await getJson<{ dependencies: { breaker: BreakerJson | null }[] }>(
        supervisor.portOf(i),
        '/admin/dependencies',
        3000,
      );
      const ask = read
        ? breakersAsk(
            read.json.dependencies.map((d) => d.breaker),
            Date.now(),
          )
        : 200;
      if (ask === 'closed') break;
      if (ask === 'probe') {
        const body: OrderBody = { order_id: `${idPrefix}-breaker-${++probes}`, amount: 100, delay_ms: everyAction(0) };
        await workload.sendOnce([body], i, 'breaker_probe', 5000);
      } else await sleep(Math.min(ask, 1000));
    }
  }
}

/** COURIERS + 1 orders at once on every instance, each holding a courier for a while: every instance wants couriers. */
export async function probeCouriers(
  workload: Workload,
  supervisor: Supervisor,
  couriers: number,
  idPrefix: string,
): Promise<void> {
  await Promise.all(
    Array.from({ length: supervisor.size }, (_, i) => {
      const bodies: OrderBody[] = Array.from({ length: couriers + 1 }, (_, n) => ({
        order_id: `${idPrefix}-probe-${supervisor.nameOf(i)}-${n + 1}`,
        amount: 100 + n,
        delay_ms: { ...everyAction(0), courier: 300 },
      }));
      return workload.sendOnce(bodies, i, 'probe', 15_000);
    }),
  );
}

async function readOrder(supervisor: Supervisor, orderId: string, first: number): Promise<FinalOrder | 'not_found'> {
  let why = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const end = await call({
      port: supervisor.portOf((first + attempt) % supervisor.size),
      method: 'GET',
      path: `/orders/${encodeURIComponent(orderId)}`,
      timeoutMs: 3000,
    });
    if (end.kind === 'answered' && end.status === 200) {
      try {
        return { found: true, ...(JSON.parse(end.body) as Omit<RecordedOrder, 'found'>) };
      } catch {
        return { found: 'unreadable', why: `200 with a body that is not JSON: ${end.body.slice(0, 200)}` };
      }
    }
    if (end.kind === 'answered' && end.status === 404) return 'not_found';
    why = end.kind === 'answered' ? `${end.status} ${end.body.slice(0, 200)}` : end.kind;
    await sleep(200);
  }
  return { found: 'unreadable', why };
}

/** The provider's books of orders the service has no record of, straight from Postgres. */
async function paymentsOf(postgres: ChaosPostgres, orderIds: readonly string[]): Promise<Map<string, Money>> {
  const rows = await postgres.query<{ order_id: string; charged: string; refunded: string }>(
    // Filed under its key, client:order_id; the harness's clients are the service's one anonymous client (open mode).
    "SELECT substr(order_id, length('anonymous:') + 1) AS order_id, sum(charged)::text AS charged, sum(refunded)::text AS refunded FROM provider_payments WHERE order_id = ANY($1) GROUP BY order_id",
    [orderIds.map((id) => `anonymous:${id}`)],
  );
  return new Map(rows.map((row) => [row.order_id, { charged: Number(row.charged), refunded: Number(row.refunded) }]));
}

async function readOrders(
  supervisor: Supervisor,
  postgres: ChaosPostgres,
  orderIds: readonly string[],
): Promise<Map<string, FinalOrder>> {
  const read = new Map<string, FinalOrder | 'not_found'>();
  let next = 0;
  await Promise.all(
    Array.from({ length: READERS }, async () => {
      for (let i = next++; i < orderIds.length; i = next++)
        read.set(orderIds[i]!, await readOrder(supervisor, orderIds[i]!, i));
    }),
  );
  const unknown = [...read].filter(([, final]) => final === 'not_found').map(([orderId]) => orderId);
  const payments = await paymentsOf(postgres, unknown);
  return new Map(
    [...read].map(([orderId, final]) => [
      orderId,
      final === 'not_found' ? { found: false, payment: payments.get(orderId) ?? { charged: 0, refunded: 0 } } : final,
    ]),
  );
}

/** Order ids named by an alarm line in any of the files. */
async function alarmedOrders(logFiles: readonly string[]): Promise<Set<string>> {
  const lines = await serviceLines(logFiles, ALARM);
  return new Set(
    lines.flatMap((line) =>
      line.level !== undefined && line.level >= 50 && typeof line.order_id === 'string' ? [line.order_id] : [],
    ),
  );
}

export async function observe(
  orderIds: readonly string[],
  supervisor: Supervisor,
  postgres: ChaosPostgres,
  couriers: number,
  healFailure: string | undefined,
  /** When the run began (ms since the epoch): what the harness's clock counts from. */
  startedAtMs: number,
): Promise<Observations> {
  const orders = await readOrders(supervisor, postgres, orderIds);
  const held = await postgres.query<{ holder: string; live: boolean; slot: number }>(
    'SELECT s.slot, s.holder::text AS holder, coalesce(i.lease_until > now(), false) AS live FROM courier_slots s LEFT JOIN instances i ON i.instance_id = s.holder WHERE s.holder IS NOT NULL ORDER BY s.slot',
  );
  const instances: InstanceAtRest[] = await Promise.all(
    Array.from({ length: supervisor.size }, async (_, i) => {
      const health = await supervisor.health(i, 3000);
      const identity = health?.durable?.instance_id;
      return { name: supervisor.nameOf(i), health, rowsHeld: held.filter((row) => row.holder === identity).length };
    }),
  );
  return {
    couriers,
    orders,
    instances,
    rowsOfDeadIdentities: held.filter((row) => !row.live).map((row) => row.slot),
    alarmed: await alarmedOrders(supervisor.logFiles()),
    healFailure,
    durable: {
      books: await readBooks(postgres, orderIds, startedAtMs),
      takeovers: await readTakeovers(supervisor.logFiles(), startedAtMs),
    },
  };
}
