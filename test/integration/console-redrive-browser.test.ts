/**
 * The console's redrive, in a real headless Chromium over real server
 * processes on Postgres (open mode: the browser is the admin). An order is
 * parked dead_lettered — its instance killed under it, with
 * ORDER_RECOVERIES_MAX=0 — and its page draws the steps recorded before the
 * loss on the lost instance's threads, and the one under way there drawn
 * apart and said lost, with its deadline said at the edge;
 * redriven from the page after a confirmation, it is read again until it
 * ends succeeded, its new run's steps drawn on the survivor's threads. Ended
 * so, it is offered no redrive any more, which the API would refuse (409).
 * An order past its own deadline has the deadline drawn among its attempts.
 * With CONSOLE_SHOTS_DIR set, the page is saved there at 1366×768.
 */
import { describe, expect, it } from 'vitest';
import type { ServerProcess } from '../../load/lib/server-process.js';
import { hasChromium, launchChromium, pageErrors, shot, SKIPPED } from '../support/chromium.js';
import { freshDatabase, POSTGRES_SKIPPED, POSTGRES_UNAVAILABLE, sql } from '../support/postgres.js';
import { jsonLines, usePostgresInstances } from '../support/server-instances.js';
import { eventually } from '../support/wait.js';
import { readFollowingRetryAfter } from '../support/http.js';

const postgres = usePostgresInstances();

// Short, so that the takeover comes within the test; long enough not to lapse on a busy machine.
const LEASE_MS = 2000;
const DEADLINE_MS = 30_000;

const instanceId = async (target: ServerProcess): Promise<string> =>
  ((await (await fetch(new URL('/healthz', target.url))).json()) as { durable: { instance_id: string } }).durable
    .instance_id;

async function lifecycleOf(target: ServerProcess, orderId: string): Promise<string | undefined> {
  const response = await readFollowingRetryAfter(new URL(`/orders/${orderId}`, target.url));
  return response.status === 404 ? undefined : ((await response.json()) as { lifecycle: string }).lifecycle;
}

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined || !hasChromium)(
  `the console's redrive in headless Chromium${POSTGRES_SKIPPED}${SKIPPED}`,
  () => {
    it(
      'redrives an order parked dead_lettered from its page, and sees it end succeeded on the instance left',
      { timeout: 60_000 },
      async () => {
        const url = await freshDatabase(postgres.server());
        const env = { LEASE_MS: String(LEASE_MS), ORDER_RECOVERIES_MAX: '0' };
        const [lost, survivor, browser] = await Promise.all([
          postgres.instance(url, env),
          postgres.instance(url, env),
          launchChromium(),
        ]);
        try {
          const [lostId, survivorId] = await Promise.all([instanceId(lost), instanceId(survivor)]);
          // Its vendor outlasts the kill; the payment and the courier are done at once, and recorded.
          const accepted = await fetch(new URL('/order', lost.url), {
            method: 'POST',
            headers: { 'content-type': 'application/json', prefer: 'respond-async' },
            body: JSON.stringify({
              order_id: 'parked',
              amount: 1500,
              deadline_ms: DEADLINE_MS,
              delay_ms: { payment: 0, vendor: 4000, courier: 0 },
            }),
          });
          await accepted.arrayBuffer();
          expect(accepted.status).toBe(202);
          await eventually(
            () => sql<{ n: number }>(url, `SELECT count(*)::int AS n FROM order_steps WHERE outcome = 'ok'`),
            ([row]) => row!.n === 2,
          );
          lost.child.kill('SIGKILL');
          await eventually(
            () => lifecycleOf(survivor, 'parked'),
            (lifecycle) => lifecycle === 'dead_lettered',
            { within: 4 * LEASE_MS, every: 50 },
          );

          const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
          const page = await context.newPage();
          const errors = pageErrors(page);
          await page.goto(new URL('/console', survivor.url).href);
          await page.locator('#orders tr[data-order-id="parked"]').click();
          const why = page.locator('#order[data-order-id="parked"] .why');
          await why.waitFor({ timeout: 5000 });
          expect(await why.textContent()).toContain('Failed: dead_lettered.');
          // What the lost instance recorded before it died: its payment and its courier, on its threads; and its
          // vendor, under way there when it died, drawn apart and said lost, on the lane of no known thread.
          const bars = page.locator('#order .bar[data-instance-id]');
          expect(await bars.count()).toBe(3);
          for (const bar of await bars.all()) expect(await bar.getAttribute('data-instance-id')).toBe(lostId);
          for (const bar of await page.locator('#order .bar[data-outcome="ok"]').all())
            expect(Number(await bar.getAttribute('data-thread-id'))).toBeGreaterThan(0);
          const lostBar = page.locator('#order .bar.lost[data-step="vendor"]');
          expect(await lostBar.getAttribute('data-thread-id')).toBe('0');
          expect(await lostBar.textContent()).toContain('vendor lost with its instance');
          expect(await page.locator('#order .thread-name', { hasText: 'thread unknown' }).count()).toBe(1);
          // The deadline, far past the steps drawn: said at the edge.
          const deadline = page.locator('#order .deadline');
          expect(await deadline.getAttribute('data-drawn')).toBe('beyond');
          expect(await deadline.textContent()).toBe('deadline at 30,000 ms →');
          await shot(page, 'console-dead-lettered');

          const redrive = page.locator('#order button[data-action="Redrive"]');
          await redrive.click();
          expect(await page.locator('#order .confirm').textContent()).toContain('Send order parked of');
          // The first read of the order after the redrive is turned away, as a busy instance's read pool does (503).
          // Before: that one refusal ended the page's reading again, and it showed the order dead-lettered for good.
          let refused = 0;
          await page.route('**/orders/parked/timeline*', async (route) => {
            if (refused++ > 0) return route.continue();
            await route.fulfill({
              status: 503,
              contentType: 'application/json',
              body: JSON.stringify({ error: { kind: 'overloaded', message: 'too many reads at once' } }),
            });
          });
          await page.locator('#order button[data-confirm="yes"]').click();
          const said = page.locator('#order .result').first();
          await expect.poll(() => said.textContent(), { timeout: 10_000 }).toContain('Redriven (202)');
          // Read again as it runs, until it ends: its vendor sleeps 4 s. A failure says what the survivor had of the
          // order, and what it logged of it.
          await expect
            .poll(() => page.locator('#order h2 .outcome').textContent(), { timeout: 20_000 })
            .toBe('succeeded')
            .catch(async (error: unknown) => {
              const order = await (await fetch(new URL('/orders/parked', survivor.url))).text();
              const lines = jsonLines<{ order_id?: string; msg?: string }>(survivor).filter(
                (line) => line.order_id === 'parked' || /lease|took over|taken over|resum/i.test(line.msg ?? ''),
              );
              throw new Error(
                `${String(error)}\nthe survivor's GET /orders/parked: ${order}\nits lines: ${JSON.stringify(lines)}`,
              );
            });
          expect(refused).toBeGreaterThan(1);
          expect(await said.textContent()).toContain('Redriven (202)');
          // The new run's payment and vendor ran on the survivor; the courier, carried over, is the lost one's, and so is
          // the vendor lost with it.
          const ranOn = async (step: string): Promise<Array<string | null>> =>
            (
              await Promise.all(
                (await page.locator(`#order .bar[data-step="${step}"]`).all()).map((bar) =>
                  bar.getAttribute('data-instance-id'),
                ),
              )
            ).sort();
          expect(await ranOn('payment')).toEqual([lostId, survivorId].sort());
          expect(await ranOn('vendor')).toEqual([lostId, survivorId].sort());
          expect(await ranOn('courier')).toEqual([lostId]);
          await shot(page, 'console-redriven');

          // Redriven once and succeeded: the page offers no redrive any more (its answer still said), and the API refuses
          // one (the page followed the order to its end; before, it kept offering what the order no longer allowed).
          expect(await redrive.isVisible()).toBe(false);
          expect(await said.textContent()).toContain('Redriven (202)');
          const second = await fetch(new URL('/admin/orders/parked/redrive?client=anonymous', survivor.url), {
            method: 'POST',
          });
          expect(second.status).toBe(409);
          expect(((await second.json()) as { error: { kind: string } }).error.kind).toBe('not_redrivable');
          expect(await lifecycleOf(survivor, 'parked')).toBe('succeeded');

          // An order past its own deadline: the deadline is drawn where it fell, among its steps' attempts.
          const late = await fetch(new URL('/order', survivor.url), {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              order_id: 'past-deadline',
              amount: 100,
              deadline_ms: 600,
              delay_ms: { payment: 0, vendor: 5000, courier: 0 },
            }),
          });
          expect(((await late.json()) as { error: { kind: string } }).error.kind).toBe('timeout');
          await page.locator('#filters button[type="submit"]').click();
          await page.locator('#orders tr[data-order-id="past-deadline"]').click();
          await page.locator('#order[data-order-id="past-deadline"] .why').waitFor({ timeout: 5000 });
          const passed = page.locator('#order .deadline');
          expect(await passed.getAttribute('data-drawn')).toBe('inside');
          expect(await passed.getAttribute('data-deadline-ms')).toBe('600');
          expect(await passed.textContent()).toBe('deadline');
          expect(await page.locator('#order .bar.canceled[data-step="vendor"]').count()).toBe(1);
          await shot(page, 'console-deadline-passed');
          // Nothing went wrong on the page but the read this test turned away: Chromium logs every answer over 399.
          expect(errors).toEqual([
            'Failed to load resource: the server responded with a status of 503 (Service Unavailable)',
          ]);
          await context.close();
        } finally {
          await browser.close();
        }
      },
    );
  },
);
