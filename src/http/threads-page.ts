/**
 * GET /threads: one self-contained HTML page (no CDN; uPlot inlined for the
 * chart) that shows the worker threads live from the frames of GET
 * /threads/events. The page lives in web/threads/ as real files — its HTML,
 * its stylesheet, and its script in TypeScript, type-checked against the
 * DOM and linted like the rest — and is put together here once, at start:
 * styles and scripts inlined, each allowed by its hash in the page's
 * Content-Security-Policy, nothing else allowed to run.
 *
 * Hooks for tests and scripts: each lane has data-thread-id (and
 * data-state), each step on it data-step, data-order-id and data-activity;
 * each counter data-total.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { compiledModule, projectFile } from '../paths.js';
import { guardClosingTag, uplotAsset } from './inline-assets.js';

export interface ThreadsPageOptions {
  /** Show the form that sends an order whose thread is killed (FAULT_INJECTION=on). */
  readonly faultInjection: boolean;
}

export interface ThreadsPage {
  readonly html: string;
  /** Allows exactly the page's own inline styles and scripts, a stream from this origin, and no framing. */
  readonly contentSecurityPolicy: string;
}

const hashOf = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

export function threadsPage({ faultInjection }: ThreadsPageOptions): ThreadsPage {
  const template = readFileSync(projectFile('web/threads/threads.html'), 'utf8');
  const styles = [uplotAsset('uPlot.min.css'), readFileSync(projectFile('web/threads/threads.css'), 'utf8')].map(
    (css) => guardClosingTag(css, 'style'),
  );
  const uplot = guardClosingTag(uplotAsset('uPlot.iife.min.js'), 'script');
  const script = guardClosingTag(readFileSync(compiledModule('web/threads/threads'), 'utf8'), 'script');
  const html = template
    .replace('{{styles}}', () => styles.map((css) => `<style>${css}</style>`).join('\n'))
    .replace('{{fault-injection}}', faultInjection ? 'on' : 'off')
    .replace('{{scripts}}', () => `<script>${uplot}</script>\n<script type="module">${script}</script>`);
  const contentSecurityPolicy = [
    "default-src 'none'",
    `script-src ${hashOf(uplot)} ${hashOf(script)}`,
    `style-src ${styles.map(hashOf).join(' ')}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, contentSecurityPolicy };
}
