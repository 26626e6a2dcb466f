/**
 * What the report and the index of runs share: escaping, number formats, and
 * the page itself — its styles and, for a page with charts, uPlot and the
 * chart script inlined, so the file opens from disk with no network.
 */
import { guardClosingTag, uplotAsset } from '../src/http/inline-assets.js';

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

const numberFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
/** A missing figure (no responses, no process) reads better as a dash than as "NaN". */
export const formatNumber = (value: number | null): string => (value !== null && Number.isFinite(value) ? numberFormat.format(value) : '—');

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

const PAGE_CSS = `
:root { color-scheme: light; }
/* Charts are sized once, before they make the page tall; a scrollbar appearing afterwards would crowd them. */
html { overflow-y: scroll; }
body {
  margin: 24px auto; max-width: 1220px; padding: 0 16px;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: #1f2328; background: #fff;
}
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0 0 4px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.meta { color: #57606a; margin: 0 0 20px; }
.note { color: #57606a; margin: 6px 0 0; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 6px 10px; border-bottom: 1px solid #d8dee4; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:hover { background: #f6f8fa; }
tr.other td { background: #fbf8f3; }
td ul { margin: 0; padding-left: 18px; }
.nowrap { white-space: nowrap; }
.ok { color: #1a7f37; font-weight: 600; }
.bad { color: #cf222e; }
section { margin-top: 32px; padding-top: 16px; border-top: 1px solid #d8dee4; }
.description { margin: 0 0 8px; color: #57606a; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0 0 12px; }
dt { color: #57606a; }
dd { margin: 0; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f6f8fa; padding: 1px 4px; border-radius: 3px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 16px 24px; margin-top: 12px; }
figure { margin: 0; max-width: 100%; overflow-x: auto; }
figcaption { font-weight: 600; margin-bottom: 4px; }
figcaption small { font-weight: normal; color: #57606a; }
.no-data { width: 560px; max-width: 100%; height: 120px; display: flex; align-items: center; justify-content: center; color: #57606a; background: #f6f8fa; }
/* A static page: the legend names the series (no values follow the cursor), so it sits under the chart as a key. */
.u-legend { font-size: 12px; }
.u-legend .u-marker { width: 14px; height: 4px; }
`;

export interface Page {
  readonly title: string;
  readonly body: string;
  /** Data for the page's script (charts); none for a page without charts. */
  readonly charts?: { readonly data: unknown; readonly script: string };
}

export function renderPage(page: Page): string {
  // Read at call time so a page always carries the uPlot that is installed, not one captured at build time.
  const head = page.charts ? `<style>${guardClosingTag(uplotAsset('uPlot.min.css'), 'style')}</style>\n` : '';
  // JSON cannot contain a raw "<" once escaped, so no string in the data can close the script tag.
  const scripts = page.charts
    ? `<script type="application/json" id="chart-data">${JSON.stringify(page.charts.data).replace(/</g, '\\u003c')}</script>
<script>${guardClosingTag(uplotAsset('uPlot.iife.min.js'), 'script')}</script>
<script>${guardClosingTag(page.charts.script, 'script')}</script>\n`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}</title>
${head}<style>${PAGE_CSS}</style>
</head>
<body>
${page.body}
${scripts}</body>
</html>
`;
}
