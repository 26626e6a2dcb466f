/**
 * The thread view as an operator meets it, in a real headless Chromium at a laptop's 1366×768, with the admin key
 * as the browser's password: /threads shows a lane above the fold, under load, and a thread whose steps all wait as
 * waiting, not stuck. With CONSOLE_SHOTS_DIR set, the view is saved there.
 */
import { describe, expect, it } from 'vitest';
import { LAPTOP, useAdminBrowser } from '../support/admin-browser.js';
import { hasChromium, pageErrors, shot, SKIPPED } from '../support/chromium.js';
import { expectAtRest } from '../support/leaks.js';
import { ACME, GLOBEX } from '../support/two-clients.js';

if (!hasChromium) console.warn(`console-follows-browser.test.ts${SKIPPED}`);

const THREADS = 2;

const admin = useAdminBrowser({ threads: THREADS, orderTimeoutMs: 20_000 });

describe('the thread view at 1366×768', () => {
  it.skipIf(!hasChromium)(
    `shows a lane above the fold under load, and a thread whose steps all wait as waiting, not stuck${SKIPPED}`,
    async () => {
      const page = await admin.context.newPage();
      const errors = pageErrors(page);
      await page.goto(new URL('/threads', admin.svc.url).href);
      await page.locator('#status.live').waitFor({ timeout: 5000 });
      const load = Array.from({ length: 60 }, (_, i) =>
        admin.svc.order(
          { order_id: `load-${i}`, amount: 100, delay_ms: { payment: 200, vendor: 1500, courier: 100 } },
          { key: i % 2 === 0 ? ACME : GLOBEX },
        ),
      );
      await expect.poll(() => page.locator('#lanes .step').count(), { timeout: 5000 }).toBeGreaterThan(20);
      const lane = (await page.locator('#lanes [data-thread-id][data-state="alive"]').first().boundingBox())!;
      expect(lane.y + 40).toBeLessThan(LAPTOP.height);
      await shot(page, 'laptop-threads-under-load');
      for (const answer of await Promise.all(load)) expect(answer.status).toBe(200);

      // One order alone, its steps asleep for seconds: its thread's loop is idle, and it says so, not "not responding".
      const alone = admin.svc.order(
        { order_id: 'alone', amount: 100, delay_ms: { payment: 2500, vendor: 2500, courier: 2500 } },
        { key: ACME },
      );
      await page.locator('#lanes .step[data-order-id="alone"]').first().waitFor({ timeout: 3000 });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(await page.locator('#lanes .lane.stalled').count()).toBe(0);
      expect(await page.locator('#lanes').textContent()).not.toContain('not responding');
      expect((await alone).status).toBe(200);
      expect(errors).toEqual([]);
      await page.close();
      await expectAtRest(admin.svc, THREADS);
    },
  );
});
