/**
 * The load report as one HTML file: a summary table, then per scenario a
 * latency-over-time chart and a latency histogram drawn with uPlot. uPlot and
 * the report data are inlined, so the file opens from disk with no network.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { LoadReport, ScenarioResult } from './report-types.js';

/** Where uPlot's browser build lives; resolved from this module so it works from src and dist alike. */
function uplotDistPath(file: string): string {
  const require = createRequire(import.meta.url);
  try {
    return require.resolve(`uplot/dist/${file}`);
  } catch {
    // A package whose "exports" map does not list dist/ refuses deep paths; its package.json still anchors the folder.
    return join(dirname(require.resolve('uplot/package.json')), 'dist', file);
  }
}

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

const numberFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
// A scenario with no responses summarizes to NaN; a dash says that better than "NaN".
const formatNumber = (value: number): string => (Number.isFinite(value) ? numberFormat.format(value) : '—');

/** Milliseconds with as many decimals as still say something: 0.42, 7.31, 48.2, 1250. */
function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms >= 100) return formatNumber(Math.round(ms));
  return ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

function formatStatuses(statuses: Readonly<Record<string, number>>): string {
  const entries = Object.entries(statuses).sort(([a], [b]) => Number(a) - Number(b) || a.localeCompare(b));
  if (entries.length === 0) return '—';
  return entries
    // Not colored: a 504 is what the timeout scenario must get. Statuses an
    // order must not get show in the verdict.
    .map(([status, count]) => `<span>${escapeHtml(status)}×${count}</span>`)
    .join(' ');
}

/** A benchmark target: shown met or not, never a failure of the run. */
function targetCell(target: ScenarioResult['target']): string {
  if (target === null) return '<td>—</td>';
  return `<td>${escapeHtml(target.text)}: <strong>${target.met ? 'met' : 'not met'}</strong> (${escapeHtml(target.figure)})</td>`;
}

function verdictCell(problems: readonly string[]): string {
  if (problems.length === 0) return '<td class="ok">ok</td>';
  const items = problems.map((p) => `<li>${escapeHtml(p)}</li>`).join('');
  return `<td class="bad"><ul>${items}</ul></td>`;
}

function summaryRow(s: ScenarioResult, index: number): string {
  const cells = [
    `<td><a href="#scenario-${index}">${escapeHtml(s.name)}</a></td>`,
    `<td class="num">${formatNumber(s.requestsPerSec)}</td>`,
    `<td class="num">${formatMs(s.latency.p50)}</td>`,
    `<td class="num">${formatMs(s.latency.p90)}</td>`,
    `<td class="num">${formatMs(s.latency.p99)}</td>`,
    `<td class="num">${formatMs(s.latency.max)}</td>`,
    `<td>${formatStatuses(s.statuses)}</td>`,
    `<td class="num${s.errors > 0 ? ' bad' : ''}">${s.errors}</td>`,
    `<td class="num">${s.peakRssMb === null ? '—' : formatNumber(s.peakRssMb)}</td>`,
    targetCell(s.target),
    verdictCell(s.problems),
  ];
  return `<tr>${cells.join('')}</tr>`;
}

function scenarioSection(s: ScenarioResult, index: number): string {
  const env = Object.entries(s.serverEnv);
  const envText =
    env.length === 0
      ? '—'
      : env.map(([key, value]) => `<code>${escapeHtml(key)}=${escapeHtml(value)}</code>`).join(' ');
  const { runningSteps, threadsReplaced, ordersInFlight } = s.health;
  return `
<section id="scenario-${index}">
  <h2>${escapeHtml(s.name)}</h2>
  <p class="description">${escapeHtml(s.description)}</p>
  <dl>
    <dt>Connections</dt><dd>${s.connections}</dd>
    <dt>Duration</dt><dd>${formatNumber(s.durationSec)} s (${formatNumber(s.requests)} requests)</dd>
    <dt>Server env</dt><dd>${envText}</dd>
    <dt>After drain</dt><dd>${runningSteps} running steps, ${threadsReplaced} threads replaced, ${ordersInFlight} orders in flight</dd>
  </dl>
  <div class="charts">
    <figure><figcaption>Latency over time</figcaption><div class="chart" data-chart="timeline" data-scenario="${index}"></div></figure>
    <figure><figcaption>Latency histogram</figcaption><div class="chart" data-chart="histogram" data-scenario="${index}"></div></figure>
  </div>
</section>`;
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
.meta { color: #57606a; margin: 0 0 20px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 6px 10px; border-bottom: 1px solid #d8dee4; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:hover { background: #f6f8fa; }
td ul { margin: 0; padding-left: 18px; }
.ok { color: #1a7f37; font-weight: 600; }
.bad { color: #cf222e; }
section { margin-top: 32px; padding-top: 16px; border-top: 1px solid #d8dee4; }
.description { margin: 0 0 8px; color: #57606a; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0 0 12px; }
dt { color: #57606a; }
dd { margin: 0; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f6f8fa; padding: 1px 4px; border-radius: 3px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px 24px; }
figure { margin: 0; max-width: 100%; overflow-x: auto; }
figcaption { font-weight: 600; margin-bottom: 4px; }
.no-data { width: 560px; max-width: 100%; height: 120px; display: flex; align-items: center; justify-content: center; color: #57606a; background: #f6f8fa; }
`;

/**
 * Runs in the page. Kept as plain ES2017 so any current browser opening the
 * file from disk can run it; it reads the report from the JSON script tag
 * rather than from a JS literal so the data is never evaluated as code.
 */
const PAGE_SCRIPT = `
(function () {
  'use strict';
  var report = JSON.parse(document.getElementById('report-data').textContent);
  var WIDTH = 560;
  var HEIGHT = 260;

  function fmtMs(v) {
    if (v == null) return '—';
    return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  }

  // Measure the row, not the figure: a flex item is only as wide as its still-empty chart.
  function chartWidth(el) {
    var row = el.closest('.charts');
    var available = row ? row.clientWidth : WIDTH;
    return Math.max(280, Math.min(WIDTH, available || WIDTH));
  }

  // uPlot's own log splits count up from the scale minimum, which is rarely a round number
  // once the range is padded and trimmed; 1-2-5 steps per decade give labels people read.
  function logSplits(u, axisIdx, min, max) {
    var splits = [];
    for (var exp = Math.floor(Math.log10(min)); Math.pow(10, exp) <= max; exp++) {
      [1, 2, 5].forEach(function (step) {
        var v = Number((step * Math.pow(10, exp)).toPrecision(6));
        if (v >= min && v <= max) splits.push(v);
      });
    }
    return splits;
  }

  function noData(el, text) {
    el.className = 'no-data';
    el.textContent = text;
  }

  // Points stay hidden to keep 40-odd bins readable, but then a bin with data between
  // two empty bins would draw nothing at all; those alone get a dot.
  function isolatedPoints(u, seriesIdx, show) {
    if (show) return null;
    var ys = u.data[seriesIdx];
    var idxs = [];
    for (var i = 0; i < ys.length; i++) {
      if (ys[i] != null && ys[i - 1] == null && ys[i + 1] == null) idxs.push(i);
    }
    return idxs.length > 0 ? idxs : null;
  }

  function drawTimeline(el, timeline) {
    if (!timeline || timeline.t.length === 0) return noData(el, 'No timeline recorded');
    if (timeline.max.every(function (v) { return v == null; })) return noData(el, 'No responses recorded');
    var data = [timeline.t, timeline.p50, timeline.p99, timeline.max, timeline.rps];
    var linePoints = { show: false, filter: isolatedPoints };
    var opts = {
      width: chartWidth(el),
      height: HEIGHT,
      scales: { x: { time: false }, ms: { auto: true }, rps: { auto: true } },
      series: [
        { label: 's', value: function (u, v) { return v == null ? '—' : v.toFixed(1) + ' s'; } },
        { label: 'p50', scale: 'ms', stroke: '#0969da', width: 1.5, points: linePoints, value: function (u, v) { return fmtMs(v); } },
        { label: 'p99', scale: 'ms', stroke: '#bc4c00', width: 1.5, points: linePoints, value: function (u, v) { return fmtMs(v); } },
        { label: 'max', scale: 'ms', stroke: '#cf222e', width: 1, dash: [4, 3], points: linePoints, value: function (u, v) { return fmtMs(v); } },
        {
          label: 'req/s', scale: 'rps', stroke: '#afb8c1', fill: 'rgba(175,184,193,0.12)', width: 1, points: linePoints,
          value: function (u, v) { return v == null ? '—' : Math.round(v).toString(); }
        }
      ],
      axes: [
        { label: 'seconds since start', labelSize: 20 },
        { scale: 'ms', label: 'latency (ms)', labelSize: 20 },
        // The throughput axis gets no grid: two grids on one plot read as noise.
        { scale: 'rps', side: 1, label: 'requests/s', labelSize: 20, size: 60, grid: { show: false } }
      ]
    };
    new uPlot(opts, data, el);
  }

  function drawHistogram(el, histogram) {
    // Empty buckets at either end only squeeze the part of the distribution that has data.
    var first = histogram ? histogram.counts.findIndex(function (c) { return c > 0; }) : -1;
    if (first < 0) return noData(el, 'No responses recorded');
    var last = histogram.counts.length - 1;
    while (last > first && !(histogram.counts[last] > 0)) last--;
    var upper = histogram.upperMs.slice(first, last + 1);
    var counts = histogram.counts.slice(first, last + 1);

    // A log axis needs positive bounds; fall back to linear rather than draw nothing.
    var logX = upper.every(function (v) { return v > 0; });
    // Buckets are log-spaced, so one bucket is one constant ratio wide; pad the range by it so edge bars are not cut.
    var ratio = upper.length > 1 && logX ? upper[1] / upper[0] : 2;
    var lowest = logX ? upper[0] / ratio : Math.min(0, upper[0]);
    var highest = logX ? upper[upper.length - 1] * Math.sqrt(ratio) : upper[upper.length - 1];

    var countSeries = {
      label: 'responses', stroke: '#0969da', fill: 'rgba(9,105,218,0.35)', width: 1, points: { show: false },
      value: function (u, v) { return v == null ? '—' : v.toLocaleString('en-US'); }
    };
    // uPlot.paths.bars ships in the iife build; stepped lines are the fallback for builds without it.
    // align -1: each bar or step ends at its upper bound, so it covers (previous bound, bound] as the bucket does.
    var paths = uPlot.paths || {};
    if (paths.bars) countSeries.paths = paths.bars({ size: [0.85, Infinity], align: -1 });
    else if (paths.stepped) countSeries.paths = paths.stepped({ align: -1 });

    var opts = {
      width: chartWidth(el),
      height: HEIGHT,
      scales: {
        x: { time: false, distr: logX ? 3 : 1, log: 10, range: function () { return [lowest, highest]; } },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } }
      },
      series: [
        { label: 'latency', value: function (u, v) { return v == null ? '—' : '≤ ' + fmtMs(v) + ' ms'; } },
        countSeries
      ],
      axes: [
        logX
          ? {
              label: 'latency, upper bound (ms)', labelSize: 20, splits: logSplits,
              // uPlot's log filter would blank every label but the powers of ten.
              filter: function (u, splits) { return splits; },
              values: function (u, splits) { return splits.map(String); }
            }
          : { label: 'latency, upper bound (ms)', labelSize: 20 },
        { label: 'responses', labelSize: 20, size: 60 }
      ],
      // The hover dot would sit on a bar's corner, not on anything the bucket means; the legend says enough.
      cursor: { points: { show: false } }
    };
    new uPlot(opts, [upper, counts], el);
  }

  var charts = document.querySelectorAll('[data-chart]');
  for (var i = 0; i < charts.length; i++) {
    var el = charts[i];
    var scenario = report.scenarios[Number(el.getAttribute('data-scenario'))];
    if (!scenario) continue;
    if (el.getAttribute('data-chart') === 'timeline') drawTimeline(el, scenario.timeline);
    else drawHistogram(el, scenario.histogram);
  }
})();
`;

/** Keeps inlined text from ending its own element early; "<\\/" means the same in JS strings, regexes and CSS. */
const guardClosingTag = (text: string, tag: 'script' | 'style'): string =>
  text.replace(new RegExp(`</${tag}`, 'gi'), `<\\/${tag}`);

export function renderReportHtml(report: LoadReport): string {
  // Read at call time so a report always carries the uPlot that is installed, not one captured at build time.
  const uplotJs = readFileSync(uplotDistPath('uPlot.iife.min.js'), 'utf8');
  const uplotCss = readFileSync(uplotDistPath('uPlot.min.css'), 'utf8');
  // JSON cannot contain a raw "<" once escaped, so no string in the report can close the script tag.
  const reportJson = JSON.stringify(report).replace(/</g, '\\u003c');

  const { cpus, cpuModel, node, platform } = report.machine;
  const machine = `${cpus} CPUs · ${cpuModel} · Node ${node} · ${platform}`;
  const rows = report.scenarios.map(summaryRow).join('\n');
  const sections = report.scenarios.map(scenarioSection).join('\n');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Load report — ${escapeHtml(report.startedAt)}</title>
<style>${guardClosingTag(uplotCss, 'style')}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
<h1>Load report</h1>
<p class="meta">Started ${escapeHtml(report.startedAt)}<br>${escapeHtml(machine)}</p>
<div class="table-wrap">
<table>
<thead>
<tr><th>Scenario</th><th class="num">req/s</th><th class="num">p50</th><th class="num">p90</th><th class="num">p99</th><th class="num">max (ms)</th><th>Statuses</th><th class="num">Errors</th><th class="num">Peak RSS MB</th><th>Target</th><th>Gates</th></tr>
</thead>
<tbody>
${rows}
</tbody>
</table>
</div>
${sections}
<script type="application/json" id="report-data">${reportJson}</script>
<script>${guardClosingTag(uplotJs, 'script')}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
