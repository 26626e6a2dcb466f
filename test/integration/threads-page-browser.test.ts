/**
 * The thread view in a real headless Chromium (Debian's, driven by
 * playwright-core; no browser download): the page loads, shows a lane per
 * worker thread, and a step appears on the lane of the thread running it
 * while its order runs, and goes when it is done.
 *
 * Skipped, and saying so, where no Chromium is installed; .ci/run installs
 * one, so CI always runs it.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium, SKIPPED } from '../support/chromium.js';
import { expectAtRest } from '../support/leaks.js';
import { orderBody, stepsOf } from '../support/orders.js';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';
import { startTestService, type TestService } from '../support/service.js';

if (!hasChromium) console.warn(`threads-page-browser.test.ts${SKIPPED}`);

const THREADS = 2;

/** "See a thread killed" sent from the page, with a crash: each of its five orders' id and status, once all are shown. */
async function seeAThreadKilled(page: Page): Promise<Array<readonly [string | null, string | null]>> {
  await page.locator('#fault-kind').selectOption('crash');
  await page.locator('#fault-send').click();
  const answers = page.locator('#fault-results li[data-order-id]');
  await expect.poll(() => answers.count(), { timeout: 10_000 }).toBe(5);
  return Promise.all(
    (await answers.all()).map(
      async (item) => [await item.getAttribute('data-order-id'), await item.getAttribute('data-status')] as const,
    ),
  );
}

let svc: TestService;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!hasChromium) return;
  [svc, browser] = await Promise.all([
    // A deadline past the lane test's 4 s steps.
    startTestService({ config: { threads: THREADS, orderTimeoutMs: 10_000 } }),
    launchChromium(),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await svc?.shutdown();
});

describe('the thread view in headless Chromium', () => {
  it.skipIf(!hasChromium)(
    `loads, shows the threads' lanes, and a step on its thread's lane while its order runs${SKIPPED}`,
    async () => {
      const page = await browser!.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      // The page's Content-Security-Policy refuses anything it does not list: a refusal is a bug of the page.
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      await page.goto(new URL('/threads', svc.url).href);

      await page.locator('#status.live').waitFor({ timeout: 5000 });
      const lanes = page.locator('#lanes [data-thread-id][data-state="alive"]');
      await expect.poll(() => lanes.count(), { timeout: 5000 }).toBe(THREADS);
      await expect.poll(() => page.locator('[data-total="threads"]').textContent()).toBe(String(THREADS));
      expect(await page.locator('.legend').textContent()).toContain('waiting for a courier');

      // Steps long enough for the page to draw a frame (one every 200 ms) while they run, with the suite keeping both
      // cores busy and Chromium's renderer one of dozens of threads on them: at 900 ms a full CI run once showed none
      // before its order ended, at 1.5 s another (2026-11-26).
      const body = orderBody({ delay_ms: { payment: 4000, vendor: 4000, courier: 4000 } });
      const answer = svc.order(body);
      const payment = page.locator(
        `#lanes [data-thread-id] [data-step="payment"][data-order-id="${String(body['order_id'])}"]`,
      );
      await payment.waitFor({ timeout: 6000 });
      // Posted to its thread first, then sleeping: a frame may catch either.
      await expect.poll(() => payment.getAttribute('data-activity'), { timeout: 4000 }).toBe('sleeping');
      // The lane holding the step (the inner locator is matched within each lane).
      const shownOn = await page
        .locator('#lanes [data-thread-id]', {
          has: page.locator(`[data-step="payment"][data-order-id="${String(body['order_id'])}"]`),
        })
        .getAttribute('data-thread-id');

      const { status, body: response } = await answer;
      expect(status).toBe(200);
      expect(shownOn).toBe(String(stepsOf(response)['payment']!.thread_id));
      await payment.waitFor({ state: 'detached', timeout: 3000 });
      expect(errors).toEqual([]);
      await page.close();
      await expectAtRest(svc, THREADS);
    },
  );

  it.skipIf(!hasChromium)(`the chart's time axis reads whole seconds, as a clock does${SKIPPED}`, async () => {
    const page = await browser!.newPage();
    // uPlot draws its axes on a canvas: what it writes there is recorded as it is drawn.
    await page.addInitScript({
      content: `window.drawnTexts = [];
          const fillText = CanvasRenderingContext2D.prototype.fillText;
          CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
            window.drawnTexts.push(String(text));
            return fillText.call(this, text, ...rest);
          };`,
    });
    await page.goto(new URL('/threads', svc.url).href);
    await page.locator('#status.live').waitFor({ timeout: 5000 });
    const clockTicks = async (): Promise<string[]> =>
      (await page.evaluate<string[]>('window.drawnTexts')).filter((text) => /^\d\d:\d\d:\d\d$/.test(text));
    // A few seconds of frames: ticks a second apart at most.
    await expect.poll(async () => new Set(await clockTicks()).size, { timeout: 8000 }).toBeGreaterThanOrEqual(2);
    const drawn = await page.evaluate<string[]>('window.drawnTexts');
    expect(drawn.filter((text) => /:\d\d\.\d/.test(text))).toEqual([]);
    await page.close();
  });

  it.skipIf(!hasChromium)(
    `"see a thread killed" shows what it promises: the thread dies, its neighbours' steps run again elsewhere, all four answered 200${SKIPPED}`,
    async () => {
      const page = await browser!.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(new URL('/threads', svc.url).href);
      await page.locator('#status.live').waitFor({ timeout: 5000 });
      const statuses = await seeAThreadKilled(page);
      const neighbours = statuses.filter(([id]) => id?.includes('-neighbour-'));
      expect(neighbours).toHaveLength(4);
      for (const [, status] of neighbours) expect(status).toBe('200');
      expect(statuses.find(([id]) => id?.endsWith('-crash'))?.[1]).toBe('500');
      await expect.poll(() => page.locator('#lanes [data-state="dead"]').count(), { timeout: 3000 }).toBe(1);
      // The steps the dead thread took with it, each box showing its id's end, whole: "-crash" and "-neighbour-2" apart.
      interface ShownId {
        readonly id: string;
        readonly text: string;
        readonly cut: boolean;
      }
      const lost = await page.evaluate<ShownId[]>(
        `[...document.querySelectorAll('#lanes [data-state="dead"] .step.lost')].map((box) => {
          const shown = box.querySelector('.order');
          return { id: box.getAttribute('data-order-id'), text: shown.textContent, cut: shown.scrollWidth > shown.clientWidth };
        })`,
      );
      expect(lost.some(({ id }) => id.endsWith('-crash'))).toBe(true);
      for (const { id, text, cut } of lost) {
        expect(text, id).toBe(id.length <= 14 ? id : `${id.slice(0, 4)}…${id.slice(-9)}`);
        expect(cut, id).toBe(false);
      }
      expect(errors).toEqual([]);
      await page.close();
      await expectAtRest(svc, THREADS);
    },
  );
});

describe("one order's trace on the page, its steps on their threads", () => {
  let receiver: OtlpReceiver | undefined;
  let traced: TestService | undefined;
  beforeAll(async () => {
    if (!hasChromium) return;
    receiver = await startOtlpReceiver();
    traced = await startTestService({
      config: {
        threads: THREADS,
        tracing: {
          tracesUrl: `${receiver.endpoint}/v1/traces`,
          protocol: 'http/json',
          serviceName: 'order-threads-page',
          sampler: 'parentbased_always_on',
          samplerRatio: 1,
        },
      },
    });
  });
  afterAll(async () => {
    await traced?.shutdown();
    await receiver?.close();
  });

  it.skipIf(!hasChromium)(
    `draws the last order's waterfall: the request, then each step on the thread that ran it${SKIPPED}`,
    async () => {
      const page = await browser!.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error' && !message.text().includes('404')) errors.push(message.text());
      });
      await page.goto(new URL('/threads', traced!.url).href);
      await page.locator('#status.live').waitFor({ timeout: 5000 });
      // Asking arms the capture: the page polls until an order is traced.
      await page.locator('#trace-show').click();
      await expect
        .poll(() => page.locator('#trace-note').textContent(), { timeout: 3000 })
        .toContain('no order traced');
      const body = orderBody({ delay_ms: { payment: 30, vendor: 60, courier: 90 } });
      const { status, body: response } = await traced!.order(body);
      expect(status).toBe(200);
      await expect
        .poll(() => page.locator('#trace-note').textContent(), { timeout: 5000 })
        .toContain(String(body['order_id']));
      for (const step of response.steps ?? []) {
        const row = page.locator(`#waterfall .wf-row[data-step="${step.name}"]`);
        expect(await row.getAttribute('data-thread-id')).toBe(String(step.thread_id));
        expect(await row.locator('[data-span="wait for a thread"]').count()).toBe(1);
      }
      expect(await page.locator('#waterfall [data-thread="main"] [data-span="POST /order"]').count()).toBe(1);
      expect(await page.locator('#waterfall [data-step="courier"] [data-span="wait for a courier"]').count()).toBe(1);
      // Laid out: the steps' bars have widths.
      const style = await page
        .locator('#waterfall [data-step="courier"] [data-span="step courier"]')
        .getAttribute('style');
      expect(style).toMatch(/width: [\d.]+%/);
      expect(errors).toEqual([]);
      await page.close();
      await expectAtRest(traced!, THREADS);
    },
  );
});

describe('the thread view with keys, opened with the admin key as a person gives it', () => {
  const ADMIN = 'admin_key_ZYXWVUTSRQPONMLKJIHGFEDCBA0123';
  let keyed: TestService | undefined;
  beforeAll(async () => {
    if (!hasChromium) return;
    keyed = await startTestService({
      config: {
        threads: THREADS,
        // As the open page's service: a deadline the demo's neighbours, run again after the kill, meet on a busy machine.
        orderTimeoutMs: 10_000,
        // A configured client that stays idle: the admin's orders still find room (they are a client's of its own).
        access: {
          mode: 'keys',
          clients: [{ client: 'acme', key: 'acme_key_0123456789abcdefghijklmnopqrstuv' }],
          adminKeys: [ADMIN],
        },
      },
    });
  });
  afterAll(async () => {
    await keyed?.shutdown();
  });
  /** The page's address, with the admin key as the password of a user named as anyone likes. */
  const withKey = (): string => {
    const url = new URL('/threads', keyed!.url);
    url.username = 'admin';
    url.password = ADMIN;
    return url.href;
  };

  it.skipIf(!hasChromium)(
    `with a key that is not the admin's, the browser's dialog given up: 401, and the page says it wants the admin key${SKIPPED}`,
    async () => {
      // Offered once when the browser asks, refused, then given up: what a person who cancels the dialog sees.
      const context = await browser!.newContext({ httpCredentials: { username: 'admin', password: 'not-the-key' } });
      const page = await context.newPage();
      const response = await page.goto(new URL('/threads', keyed!.url).href);
      expect(response?.status()).toBe(401);
      expect(await page.locator('body').textContent()).toContain("/threads is the admin's: it needs the admin key");
      await context.close();
    },
  );

  it.skipIf(!hasChromium)(
    `with the key in the address: the page opens live, and "see a thread killed" runs with the admin's orders${SKIPPED}`,
    async () => {
      const page = await browser!.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      const response = await page.goto(withKey());
      expect(response?.status()).toBe(200);
      await page.locator('#status.live').waitFor({ timeout: 5000 });
      const statuses = await seeAThreadKilled(page);
      expect(statuses.filter(([id]) => id?.includes('-neighbour-')).map(([, status]) => status)).toEqual([
        '200',
        '200',
        '200',
        '200',
      ]);
      expect(statuses.find(([id]) => id?.endsWith('-crash'))?.[1]).toBe('500');
      expect(errors).toEqual([]);
      await page.close();
      await expectAtRest(keyed!, THREADS);
    },
  );

  it.skipIf(!hasChromium)(
    `with the key given when the browser asks for it (httpCredentials): the page opens live${SKIPPED}`,
    async () => {
      const context = await browser!.newContext({ httpCredentials: { username: 'admin', password: ADMIN } });
      const page = await context.newPage();
      const response = await page.goto(new URL('/threads', keyed!.url).href);
      expect(response?.status()).toBe(200);
      await page.locator('#status.live').waitFor({ timeout: 5000 });
      await context.close();
    },
  );
});
