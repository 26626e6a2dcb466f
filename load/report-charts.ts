/**
 * The report's charts: described here as plain data (what to draw, on which
 * axis, in which color), drawn in the page by a small script with uPlot. The
 * report decides what goes in a chart; the script only draws.
 */
import { escapeHtml } from './html.js';
import type { Histogram, ScenarioResult, ServerSeries } from './report-types.js';

type Values = Array<number | null>;

export interface LineSeries {
  readonly label: string;
  readonly values: Values;
  readonly side: 'left' | 'right';
  readonly color: string;
  readonly dash?: boolean;
  readonly fill?: boolean;
}

export interface LineChart {
  readonly kind: 'lines';
  readonly x: number[];
  readonly xLabel: string;
  readonly left: string;
  readonly right?: string;
  readonly series: readonly LineSeries[];
  /** Points only, no lines: values that do not form a series in time (rounds). */
  readonly pointsOnly?: boolean;
}

export interface HistogramChart {
  readonly kind: 'histogram';
  readonly upperMs: readonly number[];
  readonly series: ReadonlyArray<{ readonly label: string; readonly counts: readonly number[]; readonly color: string }>;
  /** Each series as % of its own responses, so that sides with different counts compare. */
  readonly share: boolean;
}

export type Chart = LineChart | HistogramChart;

/** Collects a page's charts; each `figure` is the HTML that holds one. */
export class Charts {
  readonly specs: Chart[] = [];

  figure(title: string, chart: Chart | null, note = ''): string {
    const caption = `<figcaption>${escapeHtml(title)}${note ? ` <small>${escapeHtml(note)}</small>` : ''}</figcaption>`;
    if (chart === null) return `<figure>${caption}<div class="no-data">Not recorded</div></figure>`;
    this.specs.push(chart);
    return `<figure>${caption}<div class="chart" data-chart="${this.specs.length - 1}"></div></figure>`;
  }
}

export const COLORS = {
  p50: '#0969da',
  p99: '#bc4c00',
  max: '#cf222e',
  rate: '#8c959f',
  this: '#0969da',
  other: '#bc4c00',
  palette: ['#0969da', '#bc4c00', '#1a7f37', '#8250df', '#cf222e', '#4d2d00', '#1b7c83', '#bf3989'],
} as const;

export function latencyOverTime(result: ScenarioResult): LineChart | null {
  const { timeline } = result;
  if (timeline.t.length === 0 || timeline.max.every((v) => v === null)) return null;
  return {
    kind: 'lines',
    x: timeline.t,
    xLabel: 'seconds since the load began',
    left: 'latency (ms)',
    right: 'responses/s',
    series: [
      { label: 'p50', values: timeline.p50, side: 'left', color: COLORS.p50 },
      { label: 'p99', values: timeline.p99, side: 'left', color: COLORS.p99 },
      { label: 'max', values: timeline.max, side: 'left', color: COLORS.max, dash: true },
      { label: 'responses/s', values: timeline.rps, side: 'right', color: COLORS.rate, fill: true },
    ],
  };
}

export function latencyHistogram(histogram: Histogram): HistogramChart | null {
  if (!histogram.counts.some((count) => count > 0)) return null;
  return { kind: 'histogram', upperMs: histogram.upperMs, series: [{ label: 'responses', counts: histogram.counts, color: COLORS.this }], share: false };
}

export function serverState(series: ServerSeries): LineChart | null {
  const health = series.health;
  if (!health) return null;
  return {
    kind: 'lines',
    x: health.t,
    xLabel: 'seconds since the load began',
    left: 'orders, steps',
    right: 'couriers busy',
    series: [
      { label: 'orders in flight', values: health.ordersInFlight, side: 'left', color: COLORS.palette[0] },
      { label: 'steps running', values: health.runningSteps, side: 'left', color: COLORS.palette[2] },
      { label: 'steps queued', values: health.queued, side: 'left', color: COLORS.palette[4], dash: true },
      { label: 'couriers busy', values: health.couriersBusy, side: 'right', color: COLORS.palette[3] },
    ],
  };
}

export function cpuAndMemory(series: ServerSeries): LineChart | null {
  const proc = series.process;
  if (!proc) return null;
  return {
    kind: 'lines',
    x: proc.t,
    xLabel: 'seconds since the load began',
    left: 'CPU (% of one core)',
    right: 'resident (MB)',
    series: [
      ...(proc.mainThreadCpuPct ? [{ label: 'CPU, main thread', values: proc.mainThreadCpuPct, side: 'left' as const, color: COLORS.palette[0] }] : []),
      { label: 'CPU, whole process', values: proc.cpuPct, side: 'left', color: COLORS.palette[1] },
      { label: 'resident memory', values: proc.rssMb, side: 'right', color: COLORS.rate, fill: true },
    ],
  };
}

export function eventLoopDelay(series: ServerSeries): LineChart | null {
  const loop = series.eventLoop;
  if (!loop) return null;
  return {
    kind: 'lines',
    x: loop.t,
    xLabel: 'seconds since the load began',
    left: 'event-loop delay (ms)',
    series: [
      { label: 'p50', values: loop.p50Ms, side: 'left', color: COLORS.p50 },
      { label: 'p99', values: loop.p99Ms, side: 'left', color: COLORS.p99 },
      { label: 'max', values: loop.maxMs, side: 'left', color: COLORS.max, dash: true },
    ],
  };
}

/** /healthz per_thread: utilization per thread (left, %) and steps on it (right), when the server reports them. */
export function perThread(series: ServerSeries): LineChart | null {
  const threads = series.health?.perThread;
  if (!series.health || !threads || threads.length === 0) return null;
  const color = (i: number): string => COLORS.palette[i % COLORS.palette.length]!;
  return {
    kind: 'lines',
    x: series.health.t,
    xLabel: 'seconds since the load began',
    left: 'utilization (%)',
    right: 'steps on the thread',
    series: threads.flatMap((thread, i) => [
      { label: `thread ${thread.threadId} utilization`, values: thread.utilization.map((v) => (v === null ? null : Number((v * 100).toFixed(1)))), side: 'left' as const, color: color(i) },
      { label: `thread ${thread.threadId} steps`, values: thread.steps, side: 'right' as const, color: color(i), dash: true },
    ]),
  };
}

/**
 * Runs in the page. Plain ES2017 so any current browser opening the file
 * from disk runs it; it reads the charts from a JSON script tag rather than a
 * JS literal, so the data is never evaluated as code.
 */
export const CHART_SCRIPT = `
(function () {
  'use strict';
  var charts = JSON.parse(document.getElementById('chart-data').textContent);
  var WIDTH = 560;
  var HEIGHT = 260;

  function fmt(v) {
    if (v == null) return '—';
    var size = Math.abs(v);
    return size >= 100 ? Math.round(v).toLocaleString('en-US') : size >= 10 ? v.toFixed(1) : v.toFixed(2);
  }

  // Measure the grid cell, not the figure: a figure is only as wide as its still-empty chart.
  function chartWidth(el) {
    var cell = el.closest('figure');
    var available = cell && cell.parentElement ? cell.parentElement.clientWidth : WIDTH;
    return Math.max(280, Math.min(WIDTH, available || WIDTH));
  }

  // uPlot's log splits count up from the scale minimum, rarely a round number; 1-2-5 steps per decade read better.
  // A range narrower than a factor of 3 (light: 202-215 ms) holds no 1-2-5 value: then even linear steps.
  function logSplits(u, axisIdx, min, max) {
    var splits = [];
    if (max / min < 3) {
      var raw = (max - min) / 5;
      var magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
      var step = [1, 2, 5, 10].map(function (m) { return m * magnitude; }).find(function (s) { return s >= raw; });
      for (var v = Math.ceil(min / step) * step; v <= max; v += step) splits.push(Number(v.toPrecision(6)));
      return splits;
    }
    for (var exp = Math.floor(Math.log10(min)); Math.pow(10, exp) <= max; exp++) {
      [1, 2, 5].forEach(function (m) {
        var value = Number((m * Math.pow(10, exp)).toPrecision(6));
        if (value >= min && value <= max) splits.push(value);
      });
    }
    return splits;
  }

  function noData(el, text) {
    el.className = 'no-data';
    el.textContent = text;
  }

  // Points stay hidden to keep many samples readable, but then a value between two gaps would draw
  // nothing at all; those alone get a dot.
  function isolatedPoints(u, seriesIdx, show) {
    if (show) return null;
    var ys = u.data[seriesIdx];
    var idxs = [];
    for (var i = 0; i < ys.length; i++) {
      if (ys[i] != null && ys[i - 1] == null && ys[i + 1] == null) idxs.push(i);
    }
    return idxs.length > 0 ? idxs : null;
  }

  function drawLines(el, chart) {
    var hasData = chart.series.some(function (s) { return s.values.some(function (v) { return v != null; }); });
    if (!hasData) return noData(el, 'No samples recorded');
    var series = [{ label: chart.xLabel, value: function (u, v) { return v == null ? '—' : fmt(v); } }];
    chart.series.forEach(function (s) {
      series.push({
        label: s.label, scale: s.side, stroke: s.color, width: s.dash ? 1 : 1.5,
        dash: s.dash ? [5, 3] : undefined,
        fill: s.fill ? s.color + '22' : undefined,
        spanGaps: true,
        paths: chart.pointsOnly ? function () { return null; } : undefined,
        points: chart.pointsOnly ? { show: true, size: 9, fill: s.color } : { show: false, filter: isolatedPoints },
        value: function (u, v) { return fmt(v); }
      });
    });
    var axes = [
      { label: chart.xLabel, labelSize: 20 },
      { scale: 'left', label: chart.left, labelSize: 20, size: 60 }
    ];
    var scales = { x: { time: false }, left: { auto: true, range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.05 : 1]; } } };
    if (chart.right) {
      // The right axis gets no grid: two grids on one plot read as noise.
      axes.push({ scale: 'right', side: 1, label: chart.right, labelSize: 20, size: 60, grid: { show: false } });
      scales.right = { auto: true, range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.05 : 1]; } };
    }
    if (chart.pointsOnly) {
      var xs = chart.x;
      scales.x.range = function () { return [xs[0] - 0.5, xs[xs.length - 1] + 0.5]; };
      axes[0].splits = function () { return xs; };
    }
    var data = [chart.x].concat(chart.series.map(function (s) { return s.values; }));
    new uPlot({ width: chartWidth(el), height: HEIGHT, scales: scales, series: series, axes: axes, legend: { live: false } }, data, el);
  }

  function drawHistogram(el, chart) {
    // Empty buckets at either end only squeeze the part of the distribution that has data.
    var any = function (i) { return chart.series.some(function (s) { return s.counts[i] > 0; }); };
    var first = 0;
    while (first < chart.upperMs.length && !any(first)) first++;
    if (first === chart.upperMs.length) return noData(el, 'No responses recorded');
    var last = chart.upperMs.length - 1;
    while (last > first && !any(last)) last--;
    var upper = chart.upperMs.slice(first, last + 1);

    // Buckets are log-spaced, one constant ratio wide; pad the range by one bucket so edge bars are not cut.
    var ratio = upper.length > 1 ? upper[1] / upper[0] : 1.1;
    var lowest = upper[0] / ratio;
    var highest = upper[upper.length - 1] * Math.sqrt(ratio);

    var single = chart.series.length === 1;
    var paths = uPlot.paths || {};
    var series = [{ label: 'latency', value: function (u, v) { return v == null ? '—' : '≤ ' + fmt(v) + ' ms'; } }];
    var data = [upper];
    chart.series.forEach(function (s) {
      var counts = s.counts.slice(first, last + 1);
      var total = s.counts.reduce(function (a, b) { return a + b; }, 0) || 1;
      var values = chart.share ? counts.map(function (c) { return (100 * c) / total; }) : counts;
      var line = {
        label: s.label, stroke: s.color, fill: s.color + (single ? '59' : '33'), width: 1, points: { show: false },
        value: function (u, v) { return v == null ? '—' : chart.share ? v.toFixed(1) + '%' : v.toLocaleString('en-US'); }
      };
      // align -1: each bar or step ends at its upper bound, covering (previous bound, bound] as the bucket does.
      // Overlaid sides are steps: bars of two series would hide each other.
      if (single && paths.bars) line.paths = paths.bars({ size: [0.85, Infinity], align: -1 });
      else if (paths.stepped) line.paths = paths.stepped({ align: -1 });
      series.push(line);
      data.push(values);
    });

    new uPlot({
      width: chartWidth(el),
      height: HEIGHT,
      scales: {
        x: { time: false, distr: 3, log: 10, range: function () { return [lowest, highest]; } },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } }
      },
      series: series,
      axes: [
        {
          label: 'latency (ms), upper bound of each bucket', labelSize: 20, splits: logSplits,
          // uPlot's log filter would blank every label but the powers of ten.
          filter: function (u, splits) { return splits; },
          values: function (u, splits) { return splits.map(function (v) { return fmt(v); }); }
        },
        { label: chart.share ? '% of responses' : 'responses', labelSize: 20, size: 60 }
      ],
      legend: { live: false },
      // The hover dot would sit on a bar's corner, not on anything the bucket means.
      cursor: { points: { show: false } }
    }, data, el);
  }

  var holders = document.querySelectorAll('[data-chart]');
  for (var i = 0; i < holders.length; i++) {
    var chart = charts[Number(holders[i].getAttribute('data-chart'))];
    if (!chart) continue;
    if (chart.kind === 'lines') drawLines(holders[i], chart);
    else drawHistogram(holders[i], chart);
  }
})();
`;
