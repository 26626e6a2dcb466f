/**
 * One client never takes the others down through what they all share (issue
 * 25), over real HTTP with real threads: two clients keyed by API keys — acme,
 * the attacker, within its own key and share, and globex, its victim — and
 * the dependencies' circuit breakers: an attacker whose own delays run past
 * the deadline while the vendor is slow does not open the vendor's breaker
 * for the victim, and after an outage an attacker holding half-open probes
 * does not keep it from closing; and keyless sockets trickling their headers
 * do not take the connection slots a keyed client needs. Three busy keys
 * and a fourth client's floors: shared-isolation-floors.test.ts; across
 * instances on Postgres: shared-isolation-instances.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import {
  bodyTrickle,
  loopFlood,
  PROBE_THEN_HEADERS_TRICKLE,
  probeHold,
  slowVendorDeadlines,
  tricklingSockets,
  type Sender,
  type Trickle,
} from '../../load/lib/client-scenarios.js';
import { startServerProcess } from '../../load/lib/server-process.js';
import { expectAtRest } from '../support/leaks.js';
import { startTestService, type TestService } from '../support/service.js';
import { ACME, ADMIN, GLOBEX, TWO_CLIENTS } from '../support/two-clients.js';

const KEYS = TWO_CLIENTS;
const THREADS = 2;

let svc: TestService | undefined;
afterEach(async () => {
  if (!svc) return;
  await expectAtRest(svc, THREADS);
  await svc.shutdown();
  svc = undefined;
});

async function serve(config: Partial<Config> = {}): Promise<{ acme: Sender; globex: Sender; admin: Sender }> {
  svc = await startTestService({ config: { access: KEYS, threads: THREADS, clientRateLimit: 0, ...config } });
  return {
    acme: { url: svc.url, key: ACME },
    globex: { url: svc.url, key: GLOBEX },
    admin: { url: svc.url, key: ADMIN },
  };
}

describe("a dependency's breaker", () => {
  it(
    "stays closed for a slow vendor while one client's orders run their own delays past the deadline: the victim gets ≥ 95% of its orders",
    { timeout: 60_000 },
    async () => {
      const { acme, globex, admin } = await serve();
      // 4 s of the victim's orders, 20 at 5 a second (6 s before); the breaker watched throughout.
      const { victim, opened } = await slowVendorDeadlines(acme, globex, admin, { seconds: 4 });
      // Before: each cut counted as a vendor failure, the breaker opened and the victim got 0 of 90 (the issue).
      expect(opened).toBe(false);
      expect(victim.ok).toBeGreaterThanOrEqual(0.95);
    },
  );

  it(
    "closes after an outage whatever one client sends to hold its probe: ≥ 90% of the victim's orders served from BREAKER_OPEN_MS + 5 s on",
    { timeout: 60_000 },
    async () => {
      const { acme, globex, admin } = await serve({ breakerOpenMs: 1000 });
      const { victim } = await probeHold(acme, globex, admin, { openMs: 1000, seconds: 5 });
      // Before: the attacker's probes ended without a verdict and kept it from closing: 0 of 101 (the issue).
      expect(victim.ok).toBeGreaterThanOrEqual(0.9);
    },
  );
});

/**
 * `attack` against a server of its own process — the attack's churn must not share this process's event loop — with
 * acme and globex keyed and `env` besides; then the server is stopped.
 */
async function againstOwnProcess<T>(env: Record<string, string>, attack: (url: URL) => Promise<T>): Promise<T> {
  const server = await startServerProcess({
    API_KEYS: `acme:${ACME},globex:${GLOBEX}`,
    ADMIN_KEY: ADMIN,
    THREADS: String(THREADS),
    ...env,
  });
  try {
    return await attack(server.url);
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

/** 320 sockets of `trickle` at MAX_CONNECTIONS 300; the keyed victim's figures over 4 s of its orders (20). */
const trickledAt300 = (trickle?: Trickle): ReturnType<typeof tricklingSockets> =>
  againstOwnProcess({ MAX_CONNECTIONS: '300' }, (url) =>
    tricklingSockets(url, { url, key: GLOBEX }, { sockets: 320, seconds: 4, ...(trickle ? { trickle } : {}) }),
  );

describe('connections at MAX_CONNECTIONS', () => {
  it(
    'keyless sockets trickling their headers leave a keyed victim ≥ 90% of its orders',
    { timeout: 60_000 },
    async () => {
      const { victim, reopened } = await trickledAt300();
      // Before the unauthenticated budget: 0 of 30 answered 200, every one 503 (the issue: 7 of 113).
      expect(victim.ok).toBeGreaterThanOrEqual(0.9);
      // The trickling sockets lost their slots to make room, long before HEADERS_TIMEOUT_MS.
      expect(reopened).toBeGreaterThan(0);
    },
  );

  it(
    'keyless sockets that each sent GET /healthz first, then trickle, leave a keyed victim ≥ 90%: a probe grants no standing',
    { timeout: 60_000 },
    async () => {
      const { victim } = await trickledAt300(PROBE_THEN_HEADERS_TRICKLE);
      // Before: a connection that answered a probe counted as authenticated, never gave way (the issue: 8 of 112).
      expect(victim.ok).toBeGreaterThanOrEqual(0.9);
    },
  );

  it(
    "a keyed client's sockets trickling their bodies leave another keyed client ≥ 90%: slow bodies are cut, and connections are shared by client",
    { timeout: 60_000 },
    async () => {
      const { victim, reopened } = await trickledAt300(bodyTrickle(ACME));
      // Before: each held its connection for REQUEST_TIMEOUT_MS (30 s) as an authenticated one (the issue: 0 of 110).
      expect(victim.ok).toBeGreaterThanOrEqual(0.9);
      expect(reopened).toBeGreaterThan(0);
    },
  );
});

describe('a keyless flood', () => {
  it(
    'of 1,000 connections with CLIENT_TIERS set leaves a standard client served, slower perhaps, never refused by tier',
    { timeout: 60_000 },
    async () => {
      // A critical client configured: the tiers' ceilings keep room above standard, the event loop's among them.
      const { victim, refusedByTier, flood } = await againstOwnProcess({ CLIENT_TIERS: 'acme:critical' }, (url) =>
        loopFlood(url, { url, key: GLOBEX }),
      );
      // Before: unmetered, it kept the event loop late, and the loop's ceiling shed standard orders (the issue: 18 of
      // 111; here 9 of 25 in one run, and a p50 of 4 to 8 s in every one).
      expect(refusedByTier).toBe(0);
      expect(victim.ok).toBeGreaterThanOrEqual(0.9);
      // Metered per peer: past its rate, the flood was told 429, not served 401 after 401.
      expect(flood['429']).toBeGreaterThan(0);
    },
  );
});

describe('a flood with a client key', () => {
  it(
    'of 1,000 connections leaves another client ≥ 90% of its orders, as the same flood without a key does: every route has a per-client budget',
    { timeout: 90_000 },
    async () => {
      const env = { CLIENT_TIERS: 'acme:critical' };
      // The control, in the same run: the same flood without a key, metered per address.
      const keyless = await againstOwnProcess(env, (url) => loopFlood(url, { url, key: GLOBEX }));
      const keyed = await againstOwnProcess(env, (url) => loopFlood(url, { url, key: GLOBEX }, { key: ACME }));
      console.log('a flood of GET /orders/x:', JSON.stringify({ keyless, keyed }));
      expect(keyless.victim.ok).toBeGreaterThanOrEqual(0.9);
      // Before: unmetered with a key, the flood kept the event loop late for every client (the issue: 69-91 of 110,
      // p50 11.6-14.2 s; keyless 106-110).
      expect(keyed.victim.ok).toBeGreaterThanOrEqual(0.9);
      expect(keyed.refusedByTier).toBe(0);
      // Metered per client: past its budget, the flood was told 429.
      expect(keyed.flood['429']).toBeGreaterThan(0);
    },
  );

  it(
    "of 1,000 connections, with no budget (CLIENT_REQUEST_RATE_LIMIT=0), is shed by the event loop's lateness, by client: another client gets ≥ 90% of its orders",
    { timeout: 60_000 },
    async () => {
      const keyed = await againstOwnProcess({ CLIENT_TIERS: 'acme:critical', CLIENT_REQUEST_RATE_LIMIT: '0' }, (url) =>
        loopFlood(url, { url, key: GLOBEX }, { key: ACME }),
      );
      console.log('a flood of GET /orders/x, no budget:', JSON.stringify(keyed));
      expect(keyed.victim.ok).toBeGreaterThanOrEqual(0.9);
      expect(keyed.refusedByTier).toBe(0);
      // Shed by the loop's lateness: past its share of the requests answered lately, the flood was told 503.
      expect(keyed.flood['503']).toBeGreaterThan(0);
    },
  );
});
