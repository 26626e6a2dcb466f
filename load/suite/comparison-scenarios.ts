/**
 * The scenarios of a comparison with the Go service, as the issue defines
 * them. They share names with scenarios of the suite but not every setting:
 * the Go service cannot be configured (5 couriers and a 10 s request deadline,
 * fixed in its main.go), so this service runs with the same, and the loads are
 * the issue's — fail-fast with 20 connections, wide with 5,000 orders of 4 s
 * steps. The suite's own scenarios stay as they are: their targets and
 * measured figures are defined on them (wide's target is 10,000 in flight;
 * fail-fast runs 1,024 couriers so that its tail is cancellation alone, not
 * courier waits).
 *
 * Every order here is one every server reads the same way: no `cpu_ms` (the
 * Go service rejects unknown fields) and no delay of 0 (the Go service reads
 * 0 as "the default delay"). An extra `refund` delay is fine there: `delay_ms`
 * is a map.
 */
import { waiting } from '../lib/physical-bounds.js';
import { always, every, SCENARIOS, type Scenario } from './scenarios.js';

/** What this service must be configured with to match the Go service. */
export const LIKE_THE_GO_SERVICE: Readonly<Record<string, string>> = { COURIERS: '5', ORDER_TIMEOUT_MS: '10000' };

/**
 * Each round warms up until its CPU per order has settled (drive.ts), for every server. A fresh Node process needs it:
 * its first second runs at a third of its steady rate (steps with 1 ms delays take 70–80 ms while the isolates compile
 * their code), and after a 5 s warm-up it was still compiling, which read its CPU per order 3–7% high.
 */
const SETTLED = { warmUntilSettled: true } as const;

const suite = (name: string): Scenario => SCENARIOS.find((scenario) => scenario.name === name)!;

export const COMPARISON_SCENARIOS: readonly Scenario[] = [
  {
    ...suite('overhead'),
    description: 'Delays of 1 ms, 50 connections: orders/s, what the orchestration itself costs per order.',
    serverEnv: LIKE_THE_GO_SERVICE,
    durationSec: 10,
    ...SETTLED,
    order: (n) => ({ order_id: `overhead-${n}`, amount: 1200, delay_ms: every(1) }),
  },
  {
    ...suite('fail-fast'),
    description:
      'Payment declines at 150 ms, vendor and courier would take 800 ms, 20 connections: p99 of answers that should come at 150 ms.',
    serverEnv: LIKE_THE_GO_SERVICE,
    connections: 20,
    durationSec: 10,
    ...SETTLED,
  },
  {
    ...suite('light'),
    description: 'Default delays (payment 150, vendor 200, courier 100 ms), 1 connection: p50 over the 200 ms floor.',
    serverEnv: LIKE_THE_GO_SERVICE,
    ...SETTLED,
  },
  {
    ...suite('wide'),
    description: '5,000 orders in flight at once: payment and vendor wait 4 s, courier 1 ms: peak RSS.',
    serverEnv: { ...LIKE_THE_GO_SERVICE, MAX_INFLIGHT: '10000' },
    connections: 5000,
    durationSec: 12,
    smokeSec: 8,
    warmUpSec: 0,
    order: (n) => ({ order_id: `wide-${n}`, amount: 1200, delay_ms: { payment: 4000, vendor: 4000, courier: 1 } }),
    expectedStatus: always(200),
    bounds: waiting(4000, 'for its payment and vendor'),
  },
];
