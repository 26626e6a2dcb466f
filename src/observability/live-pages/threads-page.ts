/**
 * GET /threads: one self-contained HTML page (no CDN; uPlot inlined for the
 * chart) that shows the worker threads live from the frames of GET
 * /threads/events. The page lives in web/threads/ as real files — its HTML,
 * its stylesheet, and its script in TypeScript, type-checked against the
 * DOM and linted like the rest — put together at start (page-assembly.ts).
 *
 * Hooks for tests and scripts: each lane has data-thread-id (and
 * data-state), each step on it data-step, data-order-id and data-activity;
 * each counter data-total.
 */
import { uplotAsset } from './inline-assets.js';
import { assemblePage, ownStyles, type AssembledPage } from './page-assembly.js';

export interface ThreadsPageOptions {
  /** Show the form that sends an order whose thread is killed (FAULT_INJECTION=on). */
  readonly faultInjection: boolean;
}

export function threadsPage({ faultInjection }: ThreadsPageOptions): AssembledPage {
  return assemblePage({
    template: 'web/threads/threads.html',
    styles: [uplotAsset('uPlot.min.css'), ...ownStyles('web/threads/threads.css')],
    classicScripts: [uplotAsset('uPlot.iife.min.js')],
    module: 'web/threads/threads',
    fill: { 'fault-injection': faultInjection ? 'on' : 'off' },
  });
}
