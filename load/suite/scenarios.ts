/**
 * The named load scenarios. Each says the server configuration it needs (the
 * suite starts a server per scenario), how many connections, how long, at what
 * rate if a steady one, what each order looks like, the one status each order
 * must get, and the most it could be answered a second (physical-bounds.ts).
 */
import type { HeadlineKind } from '../report/types.js';
import { allOf, couriersHeld, offered, threadsBusy, waiting, type Bounds } from '../lib/physical-bounds.js';

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** The figure that stands for the scenario (see headline.ts). */
  readonly headline: HeadlineKind;
  /** Environment of the server for this scenario (on top of HOST=127.0.0.1, PORT=0 and the defaults). */
  readonly serverEnv: Readonly<Record<string, string>>;
  readonly connections: number;
  readonly durationSec: number;
  /** Seconds in `npm run load -- --smoke`: long enough for every order of the scenario to be answered at least once. */
  readonly smokeSec: number;
  /**
   * Seconds of the same load before the measured run (not recorded), so the
   * figures are the steady state's. None for `wide`: ten thousand
   * connections opened and dropped only to open them again is a burden, not
   * a warm-up.
   */
  readonly warmUpSec?: number;
  /**
   * Warm up in windows of the same load until the server's CPU per order has settled (its code compiled), within a
   * bound (drive.ts), instead of `warmUpSec`: what a comparison of CPU per order needs.
   */
  readonly warmUntilSettled?: boolean;
  /** Orders a second, sent steadily whatever the answers; absent: each connection sends its next as its last is answered. */
  readonly rate?: number;
  /** The body of order number n (n counts from 0 across the run). */
  order(n: number): Record<string, unknown>;
  /** The status order number n must get. */
  expectedStatus(n: number): number;
  /** The most answers a second it can get (a run reporting more fails): what its orders and its server allow. */
  readonly bounds: Bounds;
}

/** The same delay for every step and for the refund. */
export const every = (ms: number) => ({ payment: ms, vendor: ms, courier: ms, refund: ms });
/** The same CPU work for every step (a refund computes nothing). */
const everyStep = (ms: number) => ({ payment: ms, vendor: ms, courier: ms });
export const always = (status: number) => (): number => status;

/** The Go stress test's mix: every 5th order fails payment, else every 7th vendor, else every 9th courier. */
function mixedFailure(n: number): { failStep?: string; status: number } {
  if (n % 5 === 0) return { failStep: 'payment', status: 400 };
  if (n % 7 === 0) return { failStep: 'vendor', status: 503 };
  if (n % 9 === 0) return { failStep: 'courier', status: 503 };
  return { status: 200 };
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'light',
    headline: 'p50',
    description:
      'One connection, default delays (payment 150, vendor 200, courier 100 ms): the latency floor is the slowest step, 200 ms.',
    serverEnv: {},
    connections: 1,
    durationSec: 10,
    smokeSec: 3,
    order: (n) => ({ order_id: `light-${n}`, amount: 1200 }),
    expectedStatus: always(200),
    bounds: allOf(waiting(200, 'for its vendor'), couriersHeld(100)),
  },
  {
    name: 'overhead',
    headline: 'throughput',
    description:
      'Delays of 1 ms, 50 connections, COURIERS=5 (the Go service): what the orchestration itself costs per order.',
    serverEnv: { COURIERS: '5' },
    connections: 50,
    durationSec: 20,
    smokeSec: 3,
    order: (n) => ({ order_id: `overhead-${n}`, amount: 1200, delay_ms: every(1) }),
    expectedStatus: always(200),
    bounds: couriersHeld(1),
  },
  {
    name: 'default',
    headline: 'p99',
    description:
      'Default delays, 50 connections: 5 couriers busy 100 ms each cap the service at 50 orders/s; latency shows the queue for a courier.',
    serverEnv: { COURIERS: '5' },
    connections: 50,
    durationSec: 15,
    smokeSec: 4,
    order: (n) => ({ order_id: `default-${n}`, amount: 1200 }),
    expectedStatus: always(200),
    bounds: couriersHeld(100),
  },
  {
    name: 'fail-fast',
    headline: 'p99',
    description: 'Payment fails at 150 ms while vendor and courier would take 800 ms: every answer comes near 150 ms.',
    serverEnv: { COURIERS: '1024' },
    connections: 50,
    durationSec: 10,
    smokeSec: 3,
    order: (n) => ({
      order_id: `fail-fast-${n}`,
      amount: 1200,
      fail_step: 'payment',
      delay_ms: { payment: 150, vendor: 800, courier: 800 },
    }),
    expectedStatus: always(400),
    bounds: waiting(150, 'for its payment to be declined'),
  },
  {
    name: 'timeout',
    headline: 'p99',
    description:
      'Every step takes 3 s; the 2 s deadline cancels them all: every answer a 504 near 2 s, once the payment it cut short is voided (1 ms).',
    serverEnv: { COURIERS: '1024', ORDER_TIMEOUT_MS: '2000' },
    connections: 50,
    durationSec: 10,
    smokeSec: 5,
    order: (n) => ({ order_id: `timeout-${n}`, amount: 1200, delay_ms: { ...every(3000), refund: 1 } }),
    expectedStatus: always(504),
    bounds: waiting(2000, 'for its deadline'),
  },
  {
    name: 'cpu',
    headline: 'throughput',
    description: '20 ms of CPU work in each step, no delays: the threads are busy; throughput is bound by THREADS.',
    // Its own queue is its latency: 50 connections of 60 ms of CPU an order on 2 threads wait 1.5 s (Little's law)
    // before any other cost, and ORDER_TIMEOUT_MS's default of 2 s left orders within 10-20% of their deadline (max
    // 1.76-1.84 s quiet, each step a Piscina task; 1.80 s the build before): after the chaos run, CI answered 5 of 61
    // 504. This scenario is about throughput; the deadline is the timeout scenario's.
    serverEnv: { COURIERS: '1024', ORDER_TIMEOUT_MS: '10000' },
    connections: 50,
    durationSec: 15,
    smokeSec: 3,
    order: (n) => ({ order_id: `cpu-${n}`, amount: 1200, delay_ms: every(0), cpu_ms: everyStep(20) }),
    expectedStatus: always(200),
    // Three steps of 20 ms each, on threads that compute one at a time.
    bounds: threadsBusy(60),
  },
  {
    name: 'mixed',
    headline: 'throughput',
    description:
      "The Go stress test's mix (every 5th order fails payment, 7th vendor, 9th courier), delays of 1 ms, COURIERS=4.",
    serverEnv: { COURIERS: '4' },
    connections: 100,
    durationSec: 15,
    smokeSec: 3,
    order: (n) => {
      const { failStep } = mixedFailure(n);
      return { order_id: `mixed-${n}`, amount: 1200, delay_ms: every(1), ...(failStep ? { fail_step: failStep } : {}) };
    },
    expectedStatus: (n) => mixedFailure(n).status,
    bounds: couriersHeld(1),
  },
  {
    name: 'wide',
    headline: 'peakRss',
    description:
      '10,000 orders in flight at once: payment and vendor wait 5 s, courier 1 ms; COURIERS=1024, ORDER_TIMEOUT_MS=10000.',
    serverEnv: { COURIERS: '1024', ORDER_TIMEOUT_MS: '10000', MAX_INFLIGHT: '10000' },
    connections: 10_000,
    durationSec: 16,
    smokeSec: 9,
    warmUpSec: 0,
    order: (n) => ({ order_id: `wide-${n}`, amount: 1200, delay_ms: { payment: 5000, vendor: 5000, courier: 1 } }),
    expectedStatus: always(200),
    bounds: waiting(5000, 'for its payment and vendor'),
  },
  {
    name: 'sustained',
    headline: 'throughput',
    description:
      'A steady 1,000 orders/s for 15 minutes, delays of 1 ms, default settings: every order answered 200, each kept 10 minutes (IDEMPOTENCY_TTL_MS) within ORDER_RECORDS_MAX_MB.',
    serverEnv: {},
    // 1,000 orders/s of a few milliseconds each keep a few in flight; 200 connections hold the rate while answers take
    // up to 200 ms (a collection, a busy machine): a rate not held fails the run.
    connections: 200,
    rate: 1000,
    durationSec: 900,
    smokeSec: 4,
    warmUpSec: 2,
    order: (n) => ({ order_id: `sustained-${n}`, amount: 1200, delay_ms: every(1) }),
    expectedStatus: always(200),
    bounds: allOf(offered(1000), couriersHeld(1)),
  },
];

/** The scenario of that name; throws, naming them all, if there is none. */
export function scenarioNamed(name: string): Scenario {
  const named = SCENARIOS.find((each) => each.name === name);
  if (named === undefined) throw new Error(`no scenario ${name}: ${SCENARIOS.map((each) => each.name).join(', ')}`);
  return named;
}
