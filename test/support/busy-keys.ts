/**
 * The service of the floor tests (issue 25): three busy keys beside the two
 * clients of two-clients.ts, acme (configured, idle) and globex (the victim).
 */
import { afterEach } from 'vitest';
import type { Config } from '../../src/config.js';
import type { Sender } from '../../load/lib/client-scenarios.js';
import { expectAtRest } from './leaks.js';
import { startTestService, type TestService } from './service.js';
import { ADMIN, GLOBEX, TWO_CLIENTS } from './two-clients.js';

const BUSY_KEYS = ['initech', 'umbrella', 'hooli'].map((client, i) => ({
  client,
  key: `${client}_key_${i}`.padEnd(40, 'x'),
}));

type Served = { svc: TestService; busy: Sender[]; globex: Sender };

/**
 * A file's way to start the service, once per test, on `threads` unless its config says otherwise: after each test it
 * must be at rest on the threads it started with (the tracker at 0, every thread alive), and it is shut down.
 */
export function busyKeysPerTest(threads: number): (config: Partial<Config>, withAcme?: boolean) => Promise<Served> {
  let started: { readonly svc: TestService; readonly threads: number } | undefined;
  afterEach(async () => {
    const last = started;
    started = undefined;
    if (!last) return;
    try {
      await expectAtRest(last.svc, last.threads);
    } finally {
      await last.svc.shutdown();
    }
  });
  return async (config, withAcme) => {
    // One a test: a second would leave the first running, neither checked nor shut down.
    if (started) throw new Error('the service of this test is started already');
    const served = await serveBusyKeys({ threads, ...config }, withAcme);
    started = { svc: served.svc, threads: config.threads ?? threads };
    return served;
  };
}

/** The service, with acme left out of its clients when `withAcme` is false. */
async function serveBusyKeys(config: Partial<Config>, withAcme = true): Promise<Served> {
  const clients = [
    ...(TWO_CLIENTS.mode === 'keys' ? TWO_CLIENTS.clients : []).filter(({ client }) => withAcme || client !== 'acme'),
    ...BUSY_KEYS,
  ];
  const svc = await startTestService({
    config: { access: { mode: 'keys', clients, adminKeys: [ADMIN] }, clientRateLimit: 0, ...config },
  });
  return { svc, busy: BUSY_KEYS.map(({ key }) => ({ url: svc.url, key })), globex: { url: svc.url, key: GLOBEX } };
}
