/**
 * The live view's bulkhead (issue 20), over real HTTP: readers that stall
 * cannot keep a new viewer out. Split from bulkheads.test.ts: its ten-odd
 * seconds are spent waiting for the stalled streams to be closed, so it runs
 * beside the other waiting files (vitest.config.ts) instead of holding one of
 * the three computing workers.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAtRest } from '../support/leaks.js';
import { startTestService, type TestService } from '../support/service.js';
import { pause } from '../support/wait.js';
import { ADMIN, TWO_CLIENTS } from '../support/two-clients.js';

const THREADS = 2;

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ config: { access: TWO_CLIENTS, threads: THREADS } });
});
afterAll(async () => {
  await expectAtRest(svc, THREADS);
  await svc.shutdown();
});

const adminGet = (path: string): Promise<Response> =>
  fetch(new URL(path, svc.url), { headers: { authorization: `Bearer ${ADMIN}` } });

describe('the live view', () => {
  /** A viewer that reads the answer's first bytes and then nothing more. */
  async function stalledViewer(url: URL): Promise<Socket> {
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET /threads/events HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${ADMIN}\r\n\r\n`);
    const head = await new Promise<string>((resolve) =>
      socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))),
    );
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    socket.pause();
    return socket;
  }

  it('32 stalled readers do not keep a new viewer out for more than 15 s', { timeout: 60_000 }, async () => {
    const stalled = await Promise.all(Array.from({ length: 32 }, () => stalledViewer(svc.url)));
    try {
      const since = performance.now();
      const statuses: number[] = [];
      for (;;) {
        const response = await adminGet('/threads/events').catch(() => undefined);
        statuses.push(response?.status ?? 0);
        if (response?.status === 200) {
          await response.body?.cancel();
          break;
        }
        await response?.body?.cancel();
        // Before: refused 503 for as long as the readers stayed.
        if (performance.now() - since > 20_000) break;
        await pause(500);
      }
      expect(statuses[0]).toBe(503);
      expect(statuses.at(-1)).toBe(200);
      expect(performance.now() - since).toBeLessThan(15_000);
    } finally {
      for (const socket of stalled) socket.destroy();
    }
  });
});
