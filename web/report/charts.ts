/**
 * The load reports' chart script: draws, with uPlot, every chart the report
 * described as data (load/report/chart-spec.ts). It reads them from a JSON
 * script tag rather than a JS literal, so the data is never evaluated as
 * code; a report is opened from disk, so everything it needs is inlined.
 */
import type { Chart, HistogramChart, LineChart } from '../../load/report/chart-spec.js';

const WIDTH = 560;
const HEIGHT = 260;

const fmt = (value: number | null | undefined): string => {
  if (value == null) return '—';
  const size = Math.abs(value);
  return size >= 100 ? Math.round(value).toLocaleString('en-US') : size >= 10 ? value.toFixed(1) : value.toFixed(2);
};

/** Measure the grid cell, not the figure: a figure is only as wide as its still-empty chart. */
function chartWidth(element: HTMLElement): number {
  const cell = element.closest('figure');
  const available = cell?.parentElement ? cell.parentElement.clientWidth : WIDTH;
  return Math.max(280, Math.min(WIDTH, available || WIDTH));
}

/**
 * uPlot's log splits count up from the scale minimum, rarely a round number;
 * 1-2-5 steps per decade read better. A range narrower than a factor of 3
 * (light: 202–215 ms) holds no 1-2-5 value: then even linear steps.
 */
function logSplits(_u: uPlot, _axis: number, min: number, max: number): number[] {
  const splits: number[] = [];
  if (max / min < 3) {
    const raw = (max - min) / 5;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
    for (let v = Math.ceil(min / step) * step; v <= max; v += step) splits.push(Number(v.toPrecision(6)));
    return splits;
  }
  for (let exp = Math.floor(Math.log10(min)); 10 ** exp <= max; exp++) {
    for (const m of [1, 2, 5]) {
      const value = Number((m * 10 ** exp).toPrecision(6));
      if (value >= min && value <= max) splits.push(value);
    }
  }
  return splits;
}

function noData(element: HTMLElement, text: string): void {
  element.className = 'no-data';
  element.textContent = text;
}

/**
 * Points stay hidden to keep many samples readable, but then a value between
 * two gaps would draw nothing at all; those alone get a dot.
 */
function isolatedPoints(u: uPlot, seriesIdx: number, show: boolean): number[] | null {
  if (show) return null;
  const ys = u.data[seriesIdx] ?? [];
  const idxs: number[] = [];
  for (let i = 0; i < ys.length; i++) if (ys[i] != null && ys[i - 1] == null && ys[i + 1] == null) idxs.push(i);
  return idxs.length > 0 ? idxs : null;
}

const fromZero = (_u: uPlot, min: number, max: number): uPlot.Range.MinMax => [
  Math.min(0, min),
  max > 0 ? max * 1.05 : 1,
];

function drawLines(element: HTMLElement, chart: LineChart): void {
  if (!chart.series.some((s) => s.values.some((v) => v != null))) return noData(element, 'No samples recorded');
  const series: uPlot.Series[] = [{ label: chart.xLabel, value: (_u, v) => (v == null ? '—' : fmt(v)) }];
  for (const s of chart.series) {
    series.push({
      label: s.label,
      scale: s.side,
      stroke: s.color,
      width: s.dash ? 1 : 1.5,
      ...(s.dash ? { dash: [5, 3] } : {}),
      ...(s.fill ? { fill: `${s.color}22` } : {}),
      spanGaps: true,
      ...(chart.pointsOnly
        ? { paths: () => null, points: { show: true, size: 9, fill: s.color } }
        : { points: { show: false, filter: isolatedPoints } }),
      value: (_u, v) => fmt(v),
    });
  }
  const axes: uPlot.Axis[] = [
    { label: chart.xLabel, labelSize: 20 },
    { scale: 'left', label: chart.left, labelSize: 20, size: 60 },
  ];
  const scales: uPlot.Scales = { x: { time: false }, left: { auto: true, range: fromZero } };
  if (chart.right) {
    // The right axis gets no grid: two grids on one plot read as noise.
    axes.push({ scale: 'right', side: 1, label: chart.right, labelSize: 20, size: 60, grid: { show: false } });
    scales['right'] = { auto: true, range: fromZero };
  }
  if (chart.pointsOnly) {
    const xs = chart.x;
    scales['x'] = { time: false, range: () => [(xs[0] ?? 0) - 0.5, (xs[xs.length - 1] ?? 0) + 0.5] };
    axes[0] = { ...axes[0], splits: () => xs };
  }
  const data = [chart.x, ...chart.series.map((s) => s.values)] as uPlot.AlignedData;
  new uPlot(
    { width: chartWidth(element), height: HEIGHT, scales, series, axes, legend: { live: false } },
    data,
    element,
  );
}

function drawHistogram(element: HTMLElement, chart: HistogramChart): void {
  // Empty buckets at either end only squeeze the part of the distribution that has data.
  const any = (i: number): boolean => chart.series.some((s) => (s.counts[i] ?? 0) > 0);
  let first = 0;
  while (first < chart.upperMs.length && !any(first)) first++;
  if (first === chart.upperMs.length) return noData(element, 'No responses recorded');
  let last = chart.upperMs.length - 1;
  while (last > first && !any(last)) last--;
  const upper = chart.upperMs.slice(first, last + 1);

  // Buckets are log-spaced, one constant ratio wide; pad the range by one bucket so edge bars are not cut.
  const ratio = upper.length > 1 ? upper[1]! / upper[0]! : 1.1;
  const lowest = upper[0]! / ratio;
  const highest = upper[upper.length - 1]! * Math.sqrt(ratio);

  const single = chart.series.length === 1;
  const paths = uPlot.paths;
  const series: uPlot.Series[] = [{ label: 'latency', value: (_u, v) => (v == null ? '—' : `≤ ${fmt(v)} ms`) }];
  const data: number[][] = [upper];
  for (const s of chart.series) {
    const counts = s.counts.slice(first, last + 1);
    const total = s.counts.reduce((a, b) => a + b, 0) || 1;
    const values = chart.share ? counts.map((c) => (100 * c) / total) : counts;
    // align -1: each bar or step ends at its upper bound, covering (previous bound, bound] as the bucket does.
    // Overlaid sides are steps: bars of two series would hide each other.
    const drawn =
      single && paths.bars ? paths.bars({ size: [0.85, Infinity], align: -1 }) : paths.stepped?.({ align: -1 });
    series.push({
      label: s.label,
      stroke: s.color,
      fill: s.color + (single ? '59' : '33'),
      width: 1,
      points: { show: false },
      ...(drawn ? { paths: drawn } : {}),
      value: (_u, v) => (v == null ? '—' : chart.share ? `${v.toFixed(1)}%` : v.toLocaleString('en-US')),
    });
    data.push(values);
  }

  new uPlot(
    {
      width: chartWidth(element),
      height: HEIGHT,
      scales: {
        x: { time: false, distr: 3, log: 10, range: () => [lowest, highest] },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.05 : 1] },
      },
      series,
      axes: [
        {
          label: 'latency (ms), upper bound of each bucket',
          labelSize: 20,
          splits: logSplits,
          // uPlot's log filter would blank every label but the powers of ten.
          filter: (_u, splits) => splits,
          values: (_u, splits) => splits.map((v) => fmt(v)),
        },
        { label: chart.share ? '% of responses' : 'responses', labelSize: 20, size: 60 },
      ],
      legend: { live: false },
      // The hover dot would sit on a bar's corner, not on anything the bucket means.
      cursor: { points: { show: false } },
    },
    data as uPlot.AlignedData,
    element,
  );
}

const charts = JSON.parse(document.getElementById('chart-data')?.textContent ?? '[]') as Chart[];
document.querySelectorAll<HTMLElement>('[data-chart]').forEach((holder) => {
  const chart = charts[Number(holder.getAttribute('data-chart'))];
  if (!chart) return;
  if (chart.kind === 'lines') drawLines(holder, chart);
  else drawHistogram(holder, chart);
});
