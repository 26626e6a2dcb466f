/**
 * A real headless Chromium for the pages' tests (Debian's, driven by
 * playwright-core; no browser download). Tests that need it are skipped, and
 * say so, where none is installed; .ci/run installs one, so CI always runs
 * them.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
/** What a skipped test's name says. */
export const SKIPPED = hasChromium
  ? ''
  : ` — SKIPPED: no browser at ${CHROMIUM} (apt-get install chromium; .ci/run does)`;

/**
 * As root on this machine: no sandbox; and nothing reaching for the network,
 * which is closed here. playwright-core gives each launch a fresh profile
 * (its own --user-data-dir in a temporary folder).
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

const SHOTS = process.env['CONSOLE_SHOTS_DIR'];

/** With CONSOLE_SHOTS_DIR set, the page as it is now, saved there as `name`.png (what the viewport shows). */
export async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}

/** The errors `page` throws or logs (its Content-Security-Policy refusing anything among them), as they come. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  return errors;
}
