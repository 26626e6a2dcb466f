/**
 * For a test file of the console: a service with the two keyed clients, and a headless Chromium whose one context is
 * the admin at a laptop's 1366×768 — the admin key as the browser's Basic password, as an operator opens the console.
 * Started before the file's tests where Chromium is installed (test/support/chromium.ts), closed after them.
 */
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import type { Config } from '../../src/config.js';
import { hasChromium, launchChromium } from './chromium.js';
import { startTestService, type TestService } from './service.js';
import { ADMIN, TWO_CLIENTS } from './two-clients.js';

export const LAPTOP = { width: 1366, height: 768 } as const;

export interface AdminBrowser {
  readonly svc: TestService;
  readonly context: BrowserContext;
}

/** Call at the top level of a test file; what it returns is there once the file's tests run. */
export function useAdminBrowser(config: Partial<Config> = {}): AdminBrowser {
  let svc: TestService | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  beforeAll(async () => {
    if (!hasChromium) return;
    [svc, browser] = await Promise.all([
      startTestService({ config: { access: TWO_CLIENTS, ...config } }),
      launchChromium(),
    ]);
    context = await browser.newContext({ httpCredentials: { username: 'admin', password: ADMIN }, viewport: LAPTOP });
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await svc?.shutdown();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('not started: no Chromium, or asked before the tests run');
    return value;
  };
  return {
    get svc() {
      return started(svc);
    },
    get context() {
      return started(context);
    },
  };
}
