/**
 * The console (GET /console) in a real headless Chromium, as an operator uses
 * it with the admin key as the browser's password: orders of mixed outcomes
 * are placed, a failed one is found through the filters, opened, and the page
 * says why it failed, on which thread, and what it cost; an order whose
 * thread died under it says where its step ran again; an event is sent again
 * from the page, and a running order canceled, each after a confirmation. With CONSOLE_SHOTS_DIR set, the page
 * is saved there as PNGs at a laptop's 1366×768.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { useAdminBrowser } from '../support/admin-browser.js';
import { hasChromium, pageErrors, shot, SKIPPED } from '../support/chromium.js';
import { readFollowingRetryAfter } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { placeRunningOrder } from '../support/orders.js';
import { ACME, GLOBEX } from '../support/two-clients.js';

if (!hasChromium) console.warn(`console-browser.test.ts${SKIPPED}`);

const THREADS = 2;
const QUICK = { payment: 20, vendor: 20, courier: 20 };

const admin = useAdminBrowser({ threads: THREADS });

/** A page of the console, failing the test on any error it logs (its Content-Security-Policy refusing anything). */
async function openConsole(): Promise<{ page: Page; errors: string[] }> {
  const page = await admin.context.newPage();
  const errors = pageErrors(page);
  await page.goto(new URL('/console', admin.svc.url).href);
  await page.locator('#orders tr').first().waitFor({ timeout: 5000 });
  return { page, errors };
}

async function filterTo(page: Page, filters: { state?: string; client?: string }): Promise<void> {
  if (filters.state !== undefined) await page.locator('select[name="state"]').selectOption(filters.state);
  if (filters.client !== undefined) await page.locator('input[name="client"]').fill(filters.client);
  await page.locator('#filters button[type="submit"]').click();
}

describe('the console in headless Chromium', () => {
  it.skipIf(!hasChromium)(
    `finds a failed order by filter, opens it, and reads why it failed, on which thread, and its money${SKIPPED}`,
    async () => {
      const placed: Array<[string, string, Record<string, unknown>]> = [
        [ACME, 'shop-ok-1', {}],
        [ACME, 'shop-declined', { fail_step: 'payment' }],
        [ACME, 'shop-no-vendor', { fail_step: 'vendor' }],
        [GLOBEX, 'globex-no-courier', { fail_step: 'courier' }],
        [GLOBEX, 'globex-ok', {}],
        [ACME, 'shop-ok-2', {}],
      ];
      for (const [key, order_id, extra] of placed)
        await admin.svc.order({ order_id, amount: 1250, delay_ms: QUICK, ...extra }, { key });

      const { page, errors } = await openConsole();
      expect(await page.locator('#orders tr').count()).toBe(placed.length);
      expect(await page.locator('a[href="/threads"]').count()).toBe(1);
      await shot(page, 'console-list');

      await filterTo(page, { state: 'failed', client: 'acme' });
      await expect.poll(() => page.locator('#orders tr').count(), { timeout: 3000 }).toBe(2);
      const rows = await page.locator('#orders tr').all();
      const ids = await Promise.all(rows.map((row) => row.getAttribute('data-order-id')));
      expect(ids).toEqual(['shop-no-vendor', 'shop-declined']);

      await page.locator('#orders tr[data-order-id="shop-no-vendor"]').click();
      const why = page.locator('#order .why');
      await why.waitFor({ timeout: 3000 });
      expect(await why.getAttribute('data-failure-kind')).toBe('vendor_unavailable');
      const said = (await why.textContent()) ?? '';
      expect(said).toContain('Failed: vendor_unavailable');
      expect(said).toContain('the shop (vendor) could not be told');
      const vendorBar = page.locator('#order .bar[data-step="vendor"]');
      const thread = await vendorBar.getAttribute('data-thread-id');
      expect(Number(thread)).toBeGreaterThan(0);
      expect(said).toContain(`failed on thread ${thread}`);
      expect(await vendorBar.getAttribute('class')).toContain('error');
      // The payment went through and was refunded: nothing kept.
      const facts = (await page.locator('#order .facts').textContent()) ?? '';
      expect(facts).toContain('charged: 1,250');
      expect(facts).toContain('refunded: 1,250');
      expect(facts).toContain('kept: 0');
      expect(await page.locator('#order tr[data-step="refund"]').count()).toBe(1);
      await shot(page, 'console-failed-order');

      // Its order.failed event, sent again after a confirmation; the answer is said beside it.
      const event = page.locator('#order tr[data-event-id]', { hasText: 'order.failed' });
      await event.locator('button[data-action="Redeliver"]').click();
      expect(await event.locator('.confirm').textContent()).toContain('Send order.failed');
      await event.locator('button[data-confirm="yes"]').click();
      await expect.poll(() => event.locator('.result').textContent(), { timeout: 3000 }).toContain('Sent again');

      // The filters cleared, five a page: every order once, older and back to newer.
      await page.locator('select[name="limit"]').selectOption('5');
      await filterTo(page, { state: '', client: '' });
      const shown = async (): Promise<Array<string | null>> =>
        Promise.all((await page.locator('#orders tr').all()).map((row) => row.getAttribute('data-order-id')));
      await expect.poll(() => page.locator('#orders tr').count(), { timeout: 3000 }).toBe(5);
      const first = await shown();
      await page.locator('#older').click();
      await expect.poll(() => page.locator('#page-number').textContent(), { timeout: 3000 }).toBe('page 2');
      const second = await shown();
      expect([...first, ...second].sort()).toEqual(placed.map(([, id]) => id).sort());
      expect(await page.locator('#older').isDisabled()).toBe(true);
      await page.locator('#newer').click();
      await expect.poll(shown, { timeout: 3000 }).toEqual(first);
      expect(errors).toEqual([]);
      await page.close();
      await expectAtRest(admin.svc, THREADS);
    },
  );

  it.skipIf(!hasChromium)(
    `says that an order's step had its thread die under it, and the thread it ran again on (which thread died: order-timeline-durable.test.ts)${SKIPPED}`,
    async () => {
      // Neighbours whose steps share the threads, then an order that crashes its payment's thread under them.
      const slow = { payment: 600, vendor: 600, courier: 600 };
      const neighbours = Array.from({ length: 4 }, (_, i) =>
        admin.svc.order({ order_id: `neighbour-${i}`, amount: 300, delay_ms: slow }, { key: GLOBEX }),
      );
      await new Promise((resolve) => setTimeout(resolve, 150));
      const crash = await admin.svc.order({ order_id: 'crasher', amount: 300, faults: { payment: 'crash' } });
      expect(crash.status).toBe(500);
      for (const answer of await Promise.all(neighbours)) expect(answer.status).toBe(200);

      const { page, errors } = await openConsole();
      await filterTo(page, { client: 'globex' });
      await expect.poll(() => page.locator('#orders tr[data-order-id^="neighbour-"]').count()).toBe(4);
      // The neighbour whose step ran again: its bar says so.
      let found = false;
      for (let i = 0; i < 4 && !found; i++) {
        await page.locator(`#orders tr[data-order-id="neighbour-${i}"]`).click();
        await page.locator(`#order[data-order-id="neighbour-${i}"] .why`).waitFor({ timeout: 3000 });
        const again = page.locator('#order .bar', { hasText: 'ran 2×' });
        if ((await again.count()) === 0) continue;
        found = true;
        const text = (await again.first().textContent()) ?? '';
        const thread = await again.first().getAttribute('data-thread-id');
        expect(text).toContain(`its thread died under it, ran again on thread ${thread}`);
        await shot(page, 'console-thread-died');
      }
      expect(found).toBe(true);
      expect(errors).toEqual([]);
      await page.close();
      await expectAtRest(admin.svc, THREADS);
    },
  );

  it.skipIf(!hasChromium)(
    `cancels a running order from the page: it ends canceled, with what it was charged refunded${SKIPPED}`,
    async () => {
      // It is running when the page opens it.
      await placeRunningOrder(admin.svc.url, ACME, 'shop-to-cancel');

      const { page, errors } = await openConsole();
      await filterTo(page, { state: 'running', client: 'acme' });
      await page.locator('#orders tr[data-order-id="shop-to-cancel"]').click();
      const cancel = page.locator('#order button[data-action="Cancel"]');
      await cancel.waitFor({ timeout: 3000 });
      await cancel.click();
      expect(await page.locator('#order .confirm').textContent()).toContain('Cancel order shop-to-cancel of acme?');
      await page.locator('#order button[data-confirm="yes"]').click();
      await expect
        .poll(() => page.locator('#order .result').first().textContent(), { timeout: 10_000 })
        .toBe('Ended canceled: charged 1,250, refunded 1,250.');
      // The page reads the order again: its badge and its row say how it ended.
      await expect.poll(() => page.locator('#order h2 .outcome').textContent(), { timeout: 3000 }).toBe('canceled');
      await shot(page, 'console-order-canceled');

      const status = await readFollowingRetryAfter(new URL('/orders/shop-to-cancel', admin.svc.url), {
        headers: { authorization: `Bearer ${ACME}` },
      });
      expect(await status.json()).toMatchObject({
        lifecycle: 'canceled',
        payment: { charged: 1250, refunded: 1250 },
      });
      expect(errors).toEqual([]);
      await page.close();
      await expectAtRest(admin.svc, THREADS);
    },
  );

  it.skipIf(!hasChromium)(
    `asks again for a read turned away 503 with Retry-After, as the API asks of a client${SKIPPED}`,
    async () => {
      await admin.svc.order({ order_id: 'listed-after-refusal', amount: 100, delay_ms: QUICK }, { key: ACME });
      const page = await admin.context.newPage();
      const errors = pageErrors(page);
      // The list's first read refused as a busy instance refuses it (src/http/guards/late-reads.ts); the next served.
      let refused = 0;
      await page.route(
        (url) => url.pathname === '/orders',
        (route) =>
          refused++ > 0
            ? route.continue()
            : route.fulfill({
                status: 503,
                headers: { 'retry-after': '1', 'cache-control': 'no-store' },
                contentType: 'application/json',
                body: JSON.stringify({ status: 'error', error: { kind: 'overloaded', message: 'reads are refused' } }),
              }),
      );
      await page.goto(new URL('/console', admin.svc.url).href);
      await page.locator('#orders tr[data-order-id="listed-after-refusal"]').waitFor({ timeout: 5000 });
      expect(refused).toBe(2);
      // The refusal is the browser's console's only error: a failed resource load, logged by Chromium itself.
      expect(errors.filter((error) => !error.includes('503'))).toEqual([]);
      await page.close();
      await expectAtRest(admin.svc, THREADS);
    },
  );
});
