/**
 * What one client's events take from the others, in memory (issue 77): the
 * webhook backlog and the event feed are shared by every client, each with a
 * share of its own. A client whose endpoints all fail at its rate limit loses
 * its own deliveries, never another's, and the operator is told (a metric,
 * a log line per while); a client whose events flood loses its own history,
 * never another's, and a feed resumed past what it lost says so. The
 * durable mode's: durable-webhook-isolation.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freshOrder, VICTIM_PREFIX } from '../../load/lib/client-scenarios.js';
import { rawRequest } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { captureLog } from '../support/log-capture.js';
import { parseSamples } from '../support/prometheus.js';
import { startTestService, TEST_CONFIG, type TestService } from '../support/service.js';
import { ACME, ADMIN, GLOBEX, TWO_CLIENTS } from '../support/two-clients.js';
import { eventually, pause } from '../support/wait.js';
import { failingEndpointsFlood, registerWebhook } from '../support/webhook-flood.js';

const THREADS = 2;
const INSTANT = { payment: 0, vendor: 0, courier: 0 };

let svc: TestService | undefined;
afterEach(async () => {
  if (!svc) return;
  await expectAtRest(svc, THREADS);
  await svc.shutdown();
  svc = undefined;
});

const get = (path: string, key: string): ReturnType<typeof rawRequest> =>
  rawRequest(svc!.url, { method: 'GET', path, headers: { authorization: `Bearer ${key}` } });

describe('the webhook backlog', () => {
  it(
    "one client's endpoints all failing, 400 deliveries a second: another client's healthy endpoint gets every delivery within 5 s, and the attacker is told, a line per while",
    { timeout: 60_000 },
    async () => {
      const log = captureLog();
      // 300 deliveries owed at most: the attack fills them within a second (10 endpoints, 40 orders a second: the
      // service shares this process, and its orders must not be what the test measures).
      svc = await startTestService({
        config: { access: TWO_CLIENTS, events: { ...TEST_CONFIG.events, allowPrivateTargets: true, eventsMax: 300 } },
        logger: log.logger,
      });
      const { answered, delays, attackOrders, victimRefused } = await failingEndpointsFlood(
        { url: svc.url, key: ACME },
        { url: svc.url, key: GLOBEX },
        { rate: 40 },
      );
      expect(attackOrders).toBeGreaterThan(100);
      expect(answered.size, `the victim's other answers: ${JSON.stringify([...victimRefused])}`).toBeGreaterThanOrEqual(
        10,
      );
      // Before: every delivery of every client dropped once the attacker's filled the backlog (0 of 20).
      expect([...answered.keys()].filter((id) => !delays.has(id))).toEqual([]);
      expect(Math.max(...delays.values())).toBeLessThan(5000);
      const metrics = parseSamples((await get('/metrics', ADMIN)).text);
      expect(metrics.get('webhook_deliveries_dropped_total{client="acme"}')).toBeGreaterThan(500);
      expect(metrics.get('webhook_deliveries_dropped_total{client="globex"}') ?? 0).toBe(0);
      const dropLines = log.lines.filter((line) => String(line['msg']).includes('dropped'));
      // Before: a warn line for each delivery dropped (19,871 in 20 s).
      expect(dropLines.length).toBeGreaterThan(0);
      expect(dropLines.length).toBeLessThanOrEqual(2);
      expect(dropLines[0]).toMatchObject({ level: 40, client: 'acme' });
    },
  );
});

describe('tenants of one webhook host', () => {
  it(
    "one tenant's endpoints hanging there leave another tenant's deliveries to the same host each within 5 s",
    { timeout: 60_000 },
    async () => {
      svc = await startTestService({
        config: { access: TWO_CLIENTS, events: { ...TEST_CONFIG.events, allowPrivateTargets: true } },
      });
      // One origin: acme's paths take every delivery and answer none; globex's answer at once, and are kept.
      const hanging: Array<() => void> = [];
      const delivered = new Map<string, number>();
      const host = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          if (req.url?.startsWith('/hang')) return void hanging.push(() => res.writeHead(204).end());
          const { data } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { order_id: string } };
          if (!delivered.has(data.order_id)) delivered.set(data.order_id, performance.now());
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
      const origin = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
      try {
        for (let i = 0; i < 10; i++) await registerWebhook(svc.url, ACME, `${origin}/hang/${i}`);
        await registerWebhook(svc.url, GLOBEX, `${origin}/ok`);
        for (let i = 0; i < 30; i++) await svc.order(freshOrder({ delay_ms: INSTANT }), { key: ACME });
        await eventually(
          async () => hanging.length,
          (n) => n >= 8,
        );
        const answered = new Map<string, number>();
        for (let i = 0; i < 20; i++) {
          const body = freshOrder({ delay_ms: INSTANT }, VICTIM_PREFIX);
          if ((await svc.order(body, { key: GLOBEX })).status === 200)
            answered.set(body['order_id'] as string, performance.now());
          await pause(100);
        }
        await eventually(
          async () => delivered.size,
          (n) => n >= answered.size,
          { within: 8000, every: 50 },
        );
        const delays = [...answered].map(([id, at]) => delivered.get(id)! - at);
        // Before: one pool of 8 sockets per origin, taken by acme's hanging sends; globex's waited out their timeouts
        // (the issue: 21 of 50 within 4 s, p50 6-7 s).
        expect(Math.max(...delays)).toBeLessThan(5000);
      } finally {
        for (const release of hanging.splice(0)) release();
        host.closeAllConnections();
        await new Promise((resolve) => host.close(resolve));
      }
    },
  );
});

interface FeedPage {
  events: Array<{ id: string; client: string; data: { order_id: string } }>;
  next: string;
  has_more: boolean;
}

describe('the event feed', () => {
  it("one client's events never evict another's history; a feed resumed past its own evicted events says so, with where to restart", async () => {
    svc = await startTestService({ config: { access: TWO_CLIENTS, events: { ...TEST_CONFIG.events, eventsMax: 60 } } });
    const order = (key: string): Promise<unknown> => svc!.order(freshOrder({ delay_ms: INSTANT }), { key });
    for (let i = 0; i < 5; i++) await order(GLOBEX);
    for (let i = 0; i < 3; i++) await order(ACME);
    const acmeFirst = (await get('/events?limit=1', ACME)).json() as FeedPage;
    for (let i = 0; i < 200; i++) await order(ACME);

    // Before: acme's 200 events took all 60 places, and globex's feed was empty.
    const globex = (await get('/events', GLOBEX)).json() as FeedPage;
    expect(globex.events).toHaveLength(5);
    expect(globex.events.every((event) => event.client === 'globex')).toBe(true);

    // acme's cursor points behind what it lost: not an empty page nor a page that skips them, but 410 and a cursor.
    const resumed = await get(`/events?after=${acmeFirst.next}`, ACME);
    expect(resumed.status, resumed.text).toBe(410);
    const gone = resumed.json() as { error: { kind: string; message: string }; next: string };
    expect(gone.error.kind).toBe('events_gone');
    const restarted = (await get(`/events?after=${gone.next}&limit=1000`, ACME)).json() as FeedPage;
    const fromStart = (await get('/events?limit=1000', ACME)).json() as FeedPage;
    expect(restarted.events.map((event) => event.id)).toEqual(fromStart.events.map((event) => event.id));
    expect(restarted.events.length).toBeGreaterThan(0);
    // A cursor past nothing lost is a page as ever.
    const latest = await get(`/events?after=${restarted.next}`, ACME);
    expect(latest.status).toBe(200);
  });
});
