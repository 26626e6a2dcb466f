/**
 * A page of another origin cannot act with the admin's credentials, in a real headless Chromium, as the attack went:
 * the admin signs in to the console with the admin key as the browser's password (which the browser then sends by
 * itself with every request to the service), then opens a page elsewhere whose form posts itself to the service at
 * once — `enctype="text/plain"`, a request the browser sends without asking first. Its cancel of another client's
 * running order and its redelivery of an event are refused 403 `cross_site_request`, from another site (`localhost`
 * against the service's `127.0.0.1`) as from another port of the same host (same-site, cross-origin); the order
 * still runs, nothing refunded, and the same cancel from the console's own page works.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium, SKIPPED } from '../support/chromium.js';
import { expectAtRest } from '../support/leaks.js';
import { placeRunningOrder } from '../support/orders.js';
import { startTestService, type TestService } from '../support/service.js';
import { ADMIN, GLOBEX, TWO_CLIENTS } from '../support/two-clients.js';

if (!hasChromium) console.warn(`console-csrf-browser.test.ts${SKIPPED}`);

const THREADS = 2;

let svc: TestService;
let browser: Browser | undefined;
let context: BrowserContext | undefined;
/** The attacker's server: each page a form that posts itself to `?action=` at once. */
let attacker: Server | undefined;
let attackerPort: number;

beforeAll(async () => {
  if (!hasChromium) return;
  attacker = createServer((req, res) => {
    const action = new URL(req.url ?? '/', 'http://attacker').searchParams.get('action') ?? '';
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(
      `<!doctype html><title>A prize!</title><form method="POST" enctype="text/plain" action="${action.replaceAll('"', '&quot;')}">` +
        '<input type="hidden" name="a" value="b"></form><script>document.forms[0].submit()</script>',
    );
  });
  [svc, browser] = await Promise.all([
    startTestService({ config: { threads: THREADS, access: TWO_CLIENTS } }),
    launchChromium(),
    new Promise<void>((resolve) => attacker!.listen(0, '127.0.0.1', resolve)),
  ]);
  attackerPort = (attacker.address() as AddressInfo).port;
  context = await browser.newContext();
  // Signed in as the admin, as a person does: the key as the password of the console's URL, which the browser keeps
  // and sends with every later request to the service, whichever page makes it.
  const signIn = await context.newPage();
  const url = new URL('/console', svc.url);
  url.username = 'admin';
  url.password = ADMIN;
  const answer = await signIn.goto(url.href);
  expect(answer?.status()).toBe(200);
  await signIn.close();
});
afterAll(async () => {
  await context?.close();
  await browser?.close();
  await new Promise((resolve) => (attacker ? attacker.close(resolve) : resolve(undefined)));
  await svc?.shutdown();
});

/** Open the attacker's page at `origin`, which posts itself to `path` of the service; resolves with the answer. */
async function attack(origin: string, path: string): Promise<{ status: number; body: unknown }> {
  const page: Page = await context!.newPage();
  try {
    const target = new URL(path, svc.url).href;
    const posted = page.waitForResponse((response) => response.url() === target, { timeout: 10_000 });
    await page.goto(`${origin}/prize?${new URLSearchParams({ action: target }).toString()}`);
    const response = await posted;
    expect(response.request().method()).toBe('POST');
    const text = await response.text();
    return { status: response.status(), body: JSON.parse(text) as unknown };
  } finally {
    await page.close();
  }
}

async function asGlobex(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(new URL(path, svc.url), {
    ...init,
    headers: { authorization: `Bearer ${GLOBEX}`, ...(init.headers as Record<string, string> | undefined) },
  });
}

describe('a page of another origin, with the admin signed in to the console', () => {
  it.skipIf(!hasChromium)(
    `cannot cancel another client's running order, from another site or another port; the console's own page can${SKIPPED}`,
    async () => {
      // globex's order, running while it is attacked.
      await placeRunningOrder(svc.url, GLOBEX, 'globex-victim');

      const cancel = '/orders/globex-victim/cancel?client=globex';
      for (const origin of [`http://localhost:${attackerPort}`, `http://127.0.0.1:${attackerPort}`]) {
        const answer = await attack(origin, cancel);
        expect(answer, origin).toMatchObject({ status: 403, body: { error: { kind: 'cross_site_request' } } });
      }
      const status = await asGlobex('/orders/globex-victim');
      expect(await status.json()).toMatchObject({ lifecycle: 'running', payment: { charged: 1250, refunded: 0 } });

      // The console's own page, same origin, cancels it.
      const page = await context!.newPage();
      await page.goto(new URL('/console', svc.url).href);
      await page.locator('#orders tr[data-order-id="globex-victim"]').click();
      await page.locator('#order button[data-action="Cancel"]').click();
      await page.locator('#order button[data-confirm="yes"]').click();
      await expect
        .poll(() => page.locator('#order .result').first().textContent(), { timeout: 10_000 })
        .toBe('Ended canceled: charged 1,250, refunded 1,250.');
      await page.close();
      await expectAtRest(svc, THREADS);
    },
  );

  it.skipIf(!hasChromium)(`cannot have an event sent again${SKIPPED}`, async () => {
    const order = await asGlobex('/order', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ order_id: 'globex-done', amount: 300, delay_ms: { payment: 0, vendor: 0, courier: 0 } }),
    });
    expect(order.status).toBe(200);
    const { events } = (await (await asGlobex('/events')).json()) as { events: Array<{ id: string }> };
    const answer = await attack(`http://localhost:${attackerPort}`, `/admin/events/${events[0]!.id}/redeliver`);
    expect(answer).toMatchObject({ status: 403, body: { error: { kind: 'cross_site_request' } } });
  });
});
