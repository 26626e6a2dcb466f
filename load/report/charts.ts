/**
 * The report's charts: described here as plain data (what to draw, on which
 * axis, in which color), drawn in the page by a small script with uPlot. The
 * report decides what goes in a chart; the script only draws.
 */
import { escapeHtml } from './page.js';
import type { Chart, HistogramChart, LineChart } from './chart-spec.js';
import type { Histogram, ScenarioResult, ServerSeries } from './types.js';

export type { Chart, HistogramChart, LineChart, LineSeries } from './chart-spec.js';

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
  lean: '#1a7f37',
  palette: ['#0969da', '#bc4c00', '#1a7f37', '#8250df', '#cf222e', '#4d2d00', '#1b7c83', '#bf3989'],
} as const;

export function latencyOverTime(result: ScenarioResult): LineChart | null {
  const { timeline } = result;
  if (timeline === null || timeline.t.length === 0 || timeline.max.every((v) => v === null)) return null;
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
  return {
    kind: 'histogram',
    upperMs: histogram.upperMs,
    series: [{ label: 'responses', counts: histogram.counts, color: COLORS.this }],
    share: false,
  };
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
      ...(proc.mainThreadCpuPct
        ? [
            {
              label: 'CPU, main thread',
              values: proc.mainThreadCpuPct,
              side: 'left' as const,
              color: COLORS.palette[0],
            },
          ]
        : []),
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
      {
        label: `thread ${thread.threadId} utilization`,
        values: thread.utilization.map((v) => (v === null ? null : Number((v * 100).toFixed(1)))),
        side: 'left' as const,
        color: color(i),
      },
      {
        label: `thread ${thread.threadId} steps`,
        values: thread.steps,
        side: 'right' as const,
        color: color(i),
        dash: true,
      },
    ]),
  };
}
