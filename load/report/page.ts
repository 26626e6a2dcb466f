/**
 * What the report and the index of runs share: escaping, number formats, and
 * the page itself — its styles and, for a page with charts, uPlot and the
 * chart script inlined, so the file opens from disk with no network.
 */
import { readFileSync } from 'node:fs';
import { guardClosingTag, uplotAsset } from '../../src/observability/live-pages/inline-assets.js';
import { compiledModule } from '../../src/paths.js';
import { ownStyles } from '../../src/observability/live-pages/page-assembly.js';
import type { Chart } from './chart-spec.js';

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

const numberFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
/** A missing figure (no responses, no process) reads better as a dash than as "NaN". */
export const formatNumber = (value: number | null): string =>
  value !== null && Number.isFinite(value) ? numberFormat.format(value) : '—';

/** Milliseconds with as many decimals as still say something: 0.42, 7.31, 48.2, 1,250. */
export function formatMs(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—';
  if (ms >= 100) return formatNumber(Math.round(ms));
  return ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

/** "1.12×", colored when the change is more than the noise of this machine (±10%) and says which way is better. */
export function ratioCell(ratio: number, better: 'higher' | 'lower'): string {
  if (!Number.isFinite(ratio)) return '<td class="num">—</td>';
  const good = better === 'higher' ? ratio > 1.1 : ratio < 1 / 1.1;
  const bad = better === 'higher' ? ratio < 1 / 1.1 : ratio > 1.1;
  return `<td class="num${good ? ' ok' : bad ? ' bad' : ''}">${ratio.toFixed(2)}×</td>`;
}

export function formatStatuses(statuses: Readonly<Record<string, number>>): string {
  const entries = Object.entries(statuses).sort(([a], [b]) => Number(a) - Number(b) || a.localeCompare(b));
  if (entries.length === 0) return '—';
  // Not colored: a 504 is what the timeout scenario must get. Statuses an order must not get show in the gates.
  return entries.map(([status, count]) => `<span>${escapeHtml(status)}×${count}</span>`).join(' ');
}

export function verdictCell(problems: readonly string[]): string {
  if (problems.length === 0) return '<td class="ok">ok</td>';
  return `<td class="bad"><ul>${problems.map((p) => `<li>${escapeHtml(p)}</li>`).join('')}</ul></td>`;
}

export interface Page {
  readonly title: string;
  readonly body: string;
  /** The charts' data, drawn by web/report/charts.ts; none for a page without charts. */
  readonly charts?: readonly Chart[];
}

/**
 * The page, self-contained: its styles (web/page-base.css, web/report/report.css), and for a
 * page with charts, uPlot and the compiled chart script inlined. Read at call
 * time, so a page carries the uPlot that is installed and the script as built.
 */
export function renderPage(page: Page): string {
  const css = ownStyles('web/report/report.css').join('\n');
  const head = page.charts ? `<style>${guardClosingTag(uplotAsset('uPlot.min.css'), 'style')}</style>\n` : '';
  // JSON cannot contain a raw "<" once escaped, so no string in the data can close the script tag.
  const scripts = page.charts
    ? `<script type="application/json" id="chart-data">${JSON.stringify(page.charts).replace(/</g, '\\u003c')}</script>
<script>${guardClosingTag(uplotAsset('uPlot.iife.min.js'), 'script')}</script>
<script type="module">${guardClosingTag(readFileSync(compiledModule('web/report/charts'), 'utf8'), 'script')}</script>\n`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}</title>
${head}<style>${guardClosingTag(css, 'style')}</style>
</head>
<body>
${page.body}
${scripts}</body>
</html>
`;
}
