/**
 * The console and the thread view as an operator meets them, in a real headless Chromium at a laptop's 1366×768,
 * with the admin key as the browser's password: an order opened while it runs is followed until it ends — its steps
 * seen on their threads as they run, its end (and its row's) shown within 3 s, with no reload; a timed-out order shows
 * its steps, which one made it late, and its deadline drawn where it fell; every ending explained in words, a step
 * that brought its thread down and a caller that hung up among them; a link opens an order, the list filters by
 * lifecycle state and by order id, and a canceled order says who canceled it and when; rows and labels are read whole;
 * and /threads shows a lane above the fold, under load. With CONSOLE_SHOTS_DIR set, each view is saved there.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { LAPTOP, useAdminBrowser } from '../support/admin-browser.js';
import { hasChromium, pageErrors, shot, SKIPPED } from '../support/chromium.js';
import { expectAtRest } from '../support/leaks.js';
import { placeRunningOrder } from '../support/orders.js';
import { ACME, ADMIN, GLOBEX } from '../support/two-clients.js';

if (!hasChromium) console.warn(`console-follows-browser.test.ts${SKIPPED}`);

const THREADS = 2;
const QUICK = { payment: 20, vendor: 20, courier: 20 };

const admin = useAdminBrowser({ threads: THREADS, orderTimeoutMs: 20_000 });

/** A page of the console at `address` (after /console), failing the test on any error it logs. */
async function openConsole(address = ''): Promise<{ page: Page; errors: string[] }> {
  const page = await admin.context.newPage();
  const errors = pageErrors(page);
  await page.goto(new URL(`/console${address}`, admin.svc.url).href);
  await page.locator('#list-note', { hasText: /order|No order/ }).waitFor({ timeout: 5000 });
  return { page, errors };
}

async function openRow(page: Page, orderId: string): Promise<void> {
  await page.locator(`#orders tr[data-order-id="${orderId}"]`).click();
  await page.locator(`#order[data-order-id="${orderId}"] .why`).waitFor({ timeout: 5000 });
}

const whyOf = async (page: Page): Promise<string> => (await page.locator('#order .why').textContent()) ?? '';

/**
 * Every bar's label read whole: inside its bar, or beside it within its track. Run in the page (a script: this file
 * knows no DOM); what it says are the labels cut.
 */
const LABELS_CUT = `[...document.querySelectorAll('#order .bar')].flatMap((bar) => {
  const label = bar.querySelector('.label');
  const track = bar.parentElement;
  const inside = !bar.classList.contains('label-after') && !bar.classList.contains('label-before');
  const [shown, room] = [label.getBoundingClientRect(), track.getBoundingClientRect()];
  const cut = inside ? label.scrollWidth > bar.clientWidth : shown.left < room.left || shown.right > room.right + 1;
  return cut ? [label.textContent] : [];
})`;
const labelsCut = (page: Page): Promise<string[]> => page.evaluate<string[]>(LABELS_CUT);

/** What each row of the list is: its order id and outcome. */
const rowsListed = async (page: Page): Promise<Array<Array<string | null>>> =>
  Promise.all(
    (await page.locator('#orders tr').all()).map(async (row) => [
      await row.getAttribute('data-order-id'),
      await row.getAttribute('data-outcome'),
    ]),
  );

describe('the console follows what it shows', () => {
  it.skipIf(!hasChromium)(
    `follows a running order to its end with no reload: its steps on their threads, then succeeded within 3 s of its end, its row too${SKIPPED}`,
    async () => {
      await admin.svc.order({ order_id: 'before-it', amount: 100, delay_ms: QUICK }, { key: GLOBEX });
      const answered = admin.svc.order(
        { order_id: 'followed', amount: 900, delay_ms: { payment: 10, vendor: 2500, courier: 10 } },
        { key: ACME },
      );
      const { page, errors } = await openConsole();
      await page.evaluate('window.notReloaded = true');
      await openRow(page, 'followed');
      expect(await page.locator('#order').getAttribute('data-state')).toBe('running');
      expect(await whyOf(page)).toContain('Still running.');
      // Its vendor step, asleep on a thread, as the live view's stream shows it.
      const vendor = page.locator('#order tr[data-live-step="vendor"]');
      await vendor.waitFor({ timeout: 3000 });
      expect(Number(await vendor.getAttribute('data-thread-id'))).toBeGreaterThan(0);
      expect(await vendor.getAttribute('data-activity')).toBe('sleeping');
      expect(await page.locator('#order button[data-action="Cancel"]').isVisible()).toBe(true);
      await shot(page, 'laptop-running-order');

      expect((await answered).status).toBe(200);
      const ended = performance.now();
      await expect
        .poll(() => page.locator('#order h2 .outcome').textContent(), { timeout: 3000, interval: 50 })
        .toBe('succeeded');
      const seenAfterMs = performance.now() - ended;
      expect(seenAfterMs).toBeLessThan(3000);
      expect(await page.locator('#orders tr[data-order-id="followed"]').getAttribute('data-outcome')).toBe('ok');
      expect(await page.locator('#order tr[data-live-step]').count()).toBe(0);
      expect(await page.locator('#order .bar[data-step="vendor"]').count()).toBe(1);
      // Ended: nothing left to cancel.
      expect(await page.locator('#order button[data-action="Cancel"]').isVisible()).toBe(false);
      expect(await page.evaluate('window.notReloaded')).toBe(true);
      expect(errors).toEqual([]);
      await page.close();
      await expectAtRest(admin.svc, THREADS);
    },
  );

  it.skipIf(!hasChromium)(
    `shows a timed-out order's steps, which one made it late, and its deadline drawn where it fell${SKIPPED}`,
    async () => {
      const late = await admin.svc.order(
        {
          order_id: 'late-courier',
          amount: 400,
          deadline_ms: 500,
          delay_ms: { payment: 10, vendor: 10, courier: 3000 },
        },
        { key: ACME },
      );
      expect(late.status).toBe(504);
      const { page, errors } = await openConsole();
      await openRow(page, 'late-courier');
      const why = await whyOf(page);
      expect(why).toContain('Failed: timeout.');
      expect(why).toContain('What made it late, still running when its deadline (500 ms) passed: the courier step');
      expect(await page.locator('#order .note', { hasText: 'No step is on record' }).count()).toBe(0);
      expect(await page.locator('#order .bar.canceled[data-step="courier"]').count()).toBe(1);
      expect(await page.locator('#order .bar.ok').count()).toBe(2);
      expect(await page.locator('#order tr[data-step="courier"]').textContent()).toContain('canceled: timeout');
      // The deadline's line is where 500 ms falls on the axis it is drawn on.
      const deadline = page.locator('#order .deadline');
      expect(await deadline.getAttribute('data-drawn')).toBe('inside');
      const axisEnd = Number(
        ((await page.locator('#order .scale span').last().textContent()) ?? '').replace(/\D/g, ''),
      );
      const track = (await page.locator('#order .track').first().boundingBox())!;
      const line = (await page.locator('#order .deadline-line').first().boundingBox())!;
      expect(Math.abs(line.x - (track.x + (track.width * 500) / axisEnd))).toBeLessThanOrEqual(3);
      expect(await labelsCut(page)).toEqual([]);
      await shot(page, 'laptop-timed-out-order');
      expect(errors).toEqual([]);
      await page.close();
      await expectAtRest(admin.svc, THREADS);
    },
  );

  it.skipIf(!hasChromium)(
    `explains every ending rightly: a step that brought its thread down, a caller that hung up, a deadline said at the edge${SKIPPED}`,
    async () => {
      const crash = await admin.svc.order({ order_id: 'crasher', amount: 300, faults: { payment: 'crash' } });
      expect(crash.status).toBe(500);
      const hungUp = admin.svc.order(
        { order_id: 'hung-up', amount: 300, delay_ms: { payment: 10, vendor: 3000, courier: 10 } },
        { key: ACME, signal: AbortSignal.timeout(300) },
      );
      await expect(hungUp).rejects.toThrow();
      await expect
        .poll(async () => {
          const status = await fetch(new URL('/orders/hung-up', admin.svc.url), {
            headers: { authorization: `Bearer ${ACME}` },
          });
          return ((await status.json()) as { outcome: { kind: string } | null }).outcome?.kind;
        })
        .toBe('client_gone');
      await admin.svc.order(
        { order_id: 'no-vendor', amount: 300, fail_step: 'vendor', delay_ms: QUICK },
        { key: ACME },
      );

      const { page, errors } = await openConsole();
      await openRow(page, 'crasher');
      const crashed = await whyOf(page);
      expect(await page.locator('#order .why').getAttribute('data-failure-kind')).toBe('internal');
      const thread = await page.locator('#order .bar[data-step="payment"]').getAttribute('data-thread-id');
      expect(crashed).toContain('because of a bug in a step');
      expect(crashed).toContain(
        `The payment step (charge the customer) brought its thread down: its own code crashed, exited or ran out of memory, and thread ${thread} died with it.`,
      );
      expect(crashed).not.toContain('because internal');
      await shot(page, 'laptop-failed-order');

      await openRow(page, 'hung-up');
      expect(await whyOf(page)).toContain('It failed because every caller hung up before it ended');

      // A deadline far past the steps is said at the drawing's edge, not drawn there.
      await openRow(page, 'no-vendor');
      expect(await page.locator('#order .deadline').getAttribute('data-drawn')).toBe('beyond');
      expect(await page.locator('#order .deadline-line').count()).toBe(0);
      expect(await labelsCut(page)).toEqual([]);
      expect(errors).toEqual([]);
      await page.close();
      await expectAtRest(admin.svc, THREADS);
    },
  );

  it.skipIf(!hasChromium)(
    `opens an order from a link, filters by canceled and by order id, and says who canceled it and when${SKIPPED}`,
    async () => {
      await placeRunningOrder(admin.svc.url, ACME, 'link-canceled');
      const before = Date.now();
      const canceled = await fetch(new URL('/orders/link-canceled/cancel?client=acme', admin.svc.url), {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(canceled.status).toBe(200);
      await placeRunningOrder(admin.svc.url, GLOBEX, 'globex-canceled');
      expect(
        (
          await fetch(new URL('/orders/globex-canceled/cancel', admin.svc.url), {
            method: 'POST',
            headers: { authorization: `Bearer ${GLOBEX}` },
          })
        ).status,
      ).toBe(200);
      await admin.svc.order({ order_id: 'link-succeeded', amount: 100, delay_ms: QUICK }, { key: ACME });

      const { page, errors } = await openConsole('#order=link-canceled&client=acme');
      const why = page.locator('#order[data-order-id="link-canceled"] .why');
      await why.waitFor({ timeout: 5000 });
      expect(await why.getAttribute('data-failure-kind')).toBe('canceled');
      const said = (await why.textContent()) ?? '';
      expect(said).toMatch(/^Canceled\. The admin \(key sha256:[0-9a-f]{12}\) at \d\d:\d\d:\d\d asked it to stop/);
      expect(await page.locator('#order .facts').textContent()).toContain('canceled by: the admin (key sha256:');
      expect(Date.now() - before).toBeLessThan(60_000);

      await page.locator('select[name="state"]').selectOption('canceled');
      await page.locator('#filters button[type="submit"]').click();
      const rows = page.locator('#orders tr');
      await expect.poll(() => rows.count(), { timeout: 3000 }).toBe(2);
      expect((await rowsListed(page)).sort()).toEqual([
        ['globex-canceled', 'canceled'],
        ['link-canceled', 'canceled'],
      ]);
      expect(new URL(page.url()).hash).toContain('state=canceled');

      // By order id: part of one, and one exact id, which opens it.
      await page.locator('input[name="id"]').fill('globex-can');
      await page.locator('#filters button[type="submit"]').click();
      await expect.poll(() => rows.count(), { timeout: 3000 }).toBe(1);
      await page.locator('select[name="state"]').selectOption('');
      await page.locator('input[name="id"]').fill('link-succeeded');
      await page.locator('#filters button[type="submit"]').click();
      await page.locator('#order[data-order-id="link-succeeded"] .why.ok').waitFor({ timeout: 3000 });
      expect(new URL(page.url()).hash).toContain('order=link-succeeded');

      // The address is what the page shows: opened again, it shows the same.
      const again = await admin.context.newPage();
      await again.goto(page.url());
      await again.locator('#order[data-order-id="link-succeeded"] .why.ok').waitFor({ timeout: 5000 });
      expect(await again.locator('input[name="id"]').inputValue()).toBe('link-succeeded');
      await again.close();
      expect(errors).toEqual([]);
      await page.close();
      await expectAtRest(admin.svc, THREADS);
    },
  );

  it.skipIf(!hasChromium)(
    `at 1366×768 keeps every row of the list on one line, beside the order, its labels whole${SKIPPED}`,
    async () => {
      await admin.svc.order(
        { order_id: `a-long-order-id-${'x'.repeat(80)}`, amount: 100, fail_step: 'payment', delay_ms: QUICK },
        { key: ACME },
      );
      await admin.svc.order({ order_id: 'refund-refused', amount: 300, fail_step: 'courier', fail_compensation: true });
      const { page, errors } = await openConsole();
      const boxes = await Promise.all((await page.locator('#orders tr').all()).map((row) => row.boundingBox()));
      const heights = boxes.map((box) => box!.height);
      expect(heights.length).toBeGreaterThan(5);
      expect(Math.max(...heights)).toBeLessThanOrEqual(Math.min(...heights) + 1);
      expect(Math.max(...heights)).toBeLessThan(34);
      // Cut, said whole in its title: a cell never wraps.
      const long = page.locator('#orders tr[data-order-id^="a-long-order-id-"] td').first();
      expect(await long.getAttribute('title')).toMatch(/^a-long-order-id-x{80}$/);
      // Every badge whole, within its cell.
      for (const cell of await page.locator('#orders td:nth-child(3)').all()) {
        const [badge, room] = [await cell.locator('.outcome').boundingBox(), await cell.boundingBox()];
        expect(badge!.x + badge!.width, (await cell.textContent()) ?? '').toBeLessThanOrEqual(room!.x + room!.width);
      }
      const list = (await page.locator('section.list').boundingBox())!;
      const order = (await page.locator('#order').boundingBox())!;
      expect(order.x).toBeGreaterThanOrEqual(list.x + list.width);
      expect(order.x + order.width).toBeLessThanOrEqual(LAPTOP.width);
      await shot(page, 'laptop-list');
      expect(errors).toEqual([]);
      await page.close();
    },
  );
});

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
