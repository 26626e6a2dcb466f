/**
 * A client's shares are floors (issue 25), over real HTTP with real threads:
 * three busy keys take neither a fourth client's floor of MAX_INFLIGHT, nor
 * of the couriers, nor of the turns of thread time. It times the victim's
 * orders against the CPU, so it runs alone, after the rest of the suite
 * (vitest.config.ts); the breakers and the trickling sockets, which mostly
 * wait, are shared-isolation.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { busyKeys, type Sender } from '../../load/lib/client-scenarios.js';
import { expectAtRest } from '../support/leaks.js';
import { startTestService, type TestService } from '../support/service.js';
import { ADMIN, GLOBEX, TWO_CLIENTS } from '../support/two-clients.js';

const KEYS = TWO_CLIENTS;
const THREADS = 2;

let svc: TestService | undefined;
/** The threads of the service under test, if not THREADS. */
let svcThreads = THREADS;
afterEach(async () => {
  if (!svc) return;
  await expectAtRest(svc, svcThreads);
  svcThreads = THREADS;
  await svc.shutdown();
  svc = undefined;
});

describe('shares are floors', () => {
  const busyKeyNames = ['initech', 'umbrella', 'hooli'].map((client, i) => ({
    client,
    key: `${client}_key_${i}`.padEnd(40, 'x'),
  }));

  /** The service with three busy keys beside acme (idle unless `withAcme` is false: then not configured) and globex. */
  async function serveBusyKeys(config: Partial<Config>, withAcme = true): Promise<{ busy: Sender[]; globex: Sender }> {
    const clients = [
      ...(KEYS.mode === 'keys' ? KEYS.clients : []).filter(({ client }) => withAcme || client !== 'acme'),
      ...busyKeyNames,
    ];
    svc = await startTestService({
      config: {
        access: { mode: 'keys', clients, adminKeys: [ADMIN] },
        threads: THREADS,
        clientRateLimit: 0,
        ...config,
      },
    });
    return { busy: busyKeyNames.map(({ key }) => ({ url: svc!.url, key })), globex: { url: svc.url, key: GLOBEX } };
  }

  it(
    "three busy keys cannot take a fourth client's floor of MAX_INFLIGHT: it gets ≥ 90% of its orders at its usual rate",
    { timeout: 60_000 },
    async () => {
      const { busy, globex } = await serveBusyKeys({ maxInflight: 20 });
      // 40 orders in 4 s (60 in 6 s before): without the floors the victim got none. Each busy key sends 150 a second
      // at most: ten times the 13 a second its share of 1.5 s orders admits, without taking both cores for 5.5 s.
      const { victim } = await busyKeys(busy, globex, { seconds: 4, perSecond: 150 });
      console.log('the fourth client beside three busy keys:', victim);
      // Before: each busy key may hold 60% of MAX_INFLIGHT, so three take all of it and the victim is shed.
      expect(victim.ok).toBeGreaterThanOrEqual(0.9);
    },
  );

  it(
    "three busy keys holding couriers cannot take a fourth client's floor of COURIERS: ≥ 90% of its orders at its usual rate, without waiting for theirs to end",
    { timeout: 60_000 },
    async () => {
      // Four active clients of five couriers: a floor of one each (acme, configured and idle, keeps a newcomer's).
      const { busy, globex } = await serveBusyKeys({ couriers: 5, orderTimeoutMs: 5000 });
      // Past their first orders: floors hold for what is taken from then on, and a slot taken before a client was
      // active is not taken back from its step.
      const { victim } = await busyKeys(busy, globex, {
        connections: 4,
        // 30 orders in 3 s (50 in 5 s before): without the floor each waited ~0.6 s for a courier to free.
        seconds: 3,
        settleMs: 3500,
        hog: { delay_ms: { payment: 1, vendor: 1, courier: 3000 } },
      });
      console.log('the fourth client beside three keys holding couriers:', victim);
      expect(victim.ok).toBeGreaterThanOrEqual(0.9);
      // Before: the busy keys held all five, one freed every ~0.6 s, and the victim's 1 ms orders waited for it.
      expect(victim.medianMs).toBeLessThan(200);
    },
  );

  it(
    "three busy keys computing cannot take a fourth client's floor of the turns of thread time: ≥ 90% of its orders at its usual rate, without waiting for theirs to end",
    { timeout: 60_000 },
    async () => {
      // Four threads, four active clients (no idle one): a floor of one turn each.
      svcThreads = 4;
      const { busy, globex } = await serveBusyKeys({ threads: svcThreads, orderTimeoutMs: 5000 }, false);
      const { victim } = await busyKeys(busy, globex, {
        connections: 3,
        // 30 orders in 3 s, past the hogs' first orders of 2 s: every hog's order spins a thread for its 2 s, so the
        // test's cost is its length times both cores (8.5 s with 3 s orders, 17 CPU seconds of the suite's).
        seconds: 3,
        settleMs: 2500,
        hog: { delay_ms: { payment: 1, vendor: 1, courier: 1 }, cpu_ms: { payment: 2000 } },
        victimOrder: { delay_ms: { payment: 1, vendor: 1, courier: 1 }, cpu_ms: { payment: 5 } },
      });
      console.log('the fourth client beside three computing keys:', victim);
      expect(victim.ok).toBeGreaterThanOrEqual(0.9);
      // Before: a busy key may compute on THREADS − 1 = 3 threads, so they held all four turns, and the victim's
      // computing step waited for one to end (one every ~0.5 s: a median near 250 ms).
      expect(victim.medianMs).toBeLessThan(150);
    },
  );
});
