/**
 * What the admin changes at run time, and the audit trail of it, on a real
 * process (its stdout is the log): the log level, on the main thread and on
 * the worker threads, with an audit line naming the admin key that did it by
 * fingerprint — written even at a level that hides everything else — and an
 * audit line for a dependency's outage switch, and one for an event sent
 * again to a client's endpoints. No key ever reaches the log.
 */
import { afterEach, expect, it } from 'vitest';
import { keyFingerprint } from '../../src/auth/key-ring.js';
import { startServerProcess, type ServerProcess } from '../../load/lib/server-process.js';
import { rawRequest, type RawResponse } from '../support/http.js';
import { orderBody } from '../support/orders.js';
import { eventually } from '../support/wait.js';

const ADMIN_KEYS = ['first-admin-key-for-the-audit-test-0123', 'second-admin-key-for-the-audit-test-012'];
const CLIENT_KEY = 'shop-key-for-the-audit-test-0123456789ab';

let server: ServerProcess | undefined;
afterEach(() => {
  if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
  server = undefined;
});

type Line = Record<string, unknown>;
const lines = (): Line[] => server!.stdout.map((line) => JSON.parse(line) as Line);

function post(path: string, body: unknown, key: string): Promise<RawResponse> {
  return rawRequest(server!.url, {
    path,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
}

const order = (requestId: string): Promise<RawResponse> =>
  rawRequest(server!.url, {
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}`, 'x-request-id': requestId },
    body: JSON.stringify(orderBody()),
  });

/** The service as a process of its own, its stdout the log, at `level`. */
const serve = (level: string): Promise<ServerProcess> =>
  startServerProcess({
    THREADS: '2',
    LOG_LEVEL: level,
    ADMIN_KEY: ADMIN_KEYS.join(','),
    API_KEYS: `shop:${CLIENT_KEY}`,
  });

/** No key, whole or in part, anywhere in the log; then the service stops cleanly. */
async function expectNoKeyLoggedAndStop(): Promise<void> {
  const log = server!.stdout.join('\n');
  for (const key of [...ADMIN_KEYS, CLIENT_KEY]) expect(log).not.toContain(key.slice(0, 16));
  server!.child.kill('SIGTERM');
  expect((await server!.exited).code).toBe(0);
}

const auditLine = (event: string, nth = 0): Promise<Line> =>
  eventually(
    async () => lines().filter((line) => line['audit'] === event)[nth],
    (line) => line !== undefined,
  ) as Promise<Line>;

it('the admin changes the log level of every thread without a restart, each change audited with the key that made it', async () => {
  server = await serve('info');
  // At info, the steps write nothing from their threads.
  expect((await order('before')).status).toBe(200);
  await eventually(
    async () => lines().some((line) => line['request_id'] === 'before' && line['msg'] === 'order done'),
    Boolean,
  );
  expect(lines().filter((line) => line['thread_id'] !== undefined && line['request_id'] === 'before')).toEqual([]);

  // Not a client's to change.
  expect((await post('/admin/log-level', { level: 'debug' }, CLIENT_KEY)).status).toBe(403);
  expect((await post('/admin/log-level', { level: 'loud' }, ADMIN_KEYS[1]!)).status).toBe(400);

  const changed = await post('/admin/log-level', { level: 'debug' }, ADMIN_KEYS[1]!);
  expect(changed.status).toBe(200);
  expect(changed.json()).toEqual({ level: 'debug', previous: 'info' });
  expect(await auditLine('log_level_changed')).toMatchObject({
    actor: 'admin',
    actor_key: keyFingerprint(ADMIN_KEYS[1]!),
    from: 'info',
    to: 'debug',
  });
  const reading = await rawRequest(server.url, {
    method: 'GET',
    path: '/admin/log-level',
    headers: { authorization: `Bearer ${ADMIN_KEYS[0]}` },
  });
  expect(reading.json()).toEqual({ level: 'debug' });

  // Now every step writes its lines from the thread it runs on.
  expect((await order('after')).status).toBe(200);
  const fromThreads = await eventually(
    async () => lines().filter((line) => line['request_id'] === 'after' && line['thread_id'] !== undefined),
    (found) => new Set(found.map((line) => line['step'])).size === 3,
  );
  expect(fromThreads.map((line) => line['msg']).sort()).toEqual(['courier done', 'payment done', 'vendor done']);

  // Turned down to error: the audit line of that change is written all the same, and nothing at info after it.
  expect((await post('/admin/log-level', { level: 'error' }, ADMIN_KEYS[0]!)).status).toBe(200);
  expect(await auditLine('log_level_changed', 1)).toMatchObject({
    actor_key: keyFingerprint(ADMIN_KEYS[0]!),
    from: 'debug',
    to: 'error',
  });
  expect((await order('quiet')).status).toBe(200);
  // Another admin action: its audit line comes after the quiet order's would have.
  const switched = await post('/admin/dependencies/vendor', { outage: true, failure_ratio: 0.5 }, ADMIN_KEYS[0]!);
  expect(switched.status).toBe(200);
  expect(await auditLine('dependency_outage_switched')).toMatchObject({
    actor: 'admin',
    actor_key: keyFingerprint(ADMIN_KEYS[0]!),
    dependency: 'vendor',
    outage: { failure_ratio: 0.5, latency_ms: 0 },
  });
  expect(lines().filter((line) => line['request_id'] === 'quiet')).toEqual([]);

  await expectNoKeyLoggedAndStop();
});

it("the admin's redelivery of an event is audited with the key that asked it, the event and its client", async () => {
  server = await serve('error');
  expect((await order('redelivered')).status).toBe(200);
  const feed = await rawRequest(server.url, {
    method: 'GET',
    path: '/events',
    headers: { authorization: `Bearer ${CLIENT_KEY}` },
  });
  const [event] = (feed.json() as { events: Array<{ id: string; type: string }> }).events;
  expect(event).toBeDefined();
  const redelivered = await rawRequest(server.url, {
    path: `/admin/events/${event!.id}/redeliver`,
    headers: { authorization: `Bearer ${ADMIN_KEYS[1]}` },
  });
  expect(redelivered.status).toBe(202);
  // As the cancel, the redrive, the outage switch and the log level are: at a level that hides everything else.
  expect(await auditLine('event_redelivered')).toMatchObject({
    actor: 'admin',
    actor_key: keyFingerprint(ADMIN_KEYS[1]!),
    event_id: event!.id,
    event_type: event!.type,
    client: 'shop',
    deliveries: 0,
  });
  await expectNoKeyLoggedAndStop();
});
