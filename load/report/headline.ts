/**
 * The figures a result is read by, and the one that stands for a scenario
 * (its headline): orders/s where the scenario is about throughput, a latency
 * percentile where it is about latency, peak RSS where it is about memory.
 * The index of runs lists the headline, a comparison takes the ratio of it
 * first, and two runs are compared by it first.
 */
import type { HeadlineKind, ScenarioResult } from './types.js';
import { formatFigure } from '../lib/rounds.js';

export interface Headline {
  /** As a column heading: "orders/s", "p99 (ms)". */
  readonly label: string;
  readonly unit: string;
  /** Which way is better; a ratio this ÷ other above 1 is good for 'higher'. */
  readonly better: 'higher' | 'lower';
  /**
   * The figure of one result. Peak RSS is the high-water mark of a process
   * started for the scenario when there is one, else the peak sampled —
   * unless `rss` says which to take (a comparison takes the same on both sides).
   */
  read(result: ScenarioResult, rss?: 'high-water mark' | 'sampled'): number | null;
}

export const HEADLINES: Readonly<Record<HeadlineKind, Headline>> = {
  throughput: { label: 'orders/s', unit: 'orders/s', better: 'higher', read: (r) => r.requestsPerSec },
  p50: { label: 'p50 (ms)', unit: 'ms', better: 'lower', read: (r) => r.latency.p50 },
  p99: { label: 'p99 (ms)', unit: 'ms', better: 'lower', read: (r) => r.latency.p99 },
  cpuPerOrder: {
    label: 'CPU µs per order',
    unit: 'µs',
    better: 'lower',
    read: (r) => r.processCpu?.usPerOrder ?? null,
  },
  peakRss: {
    label: 'peak RSS (MB)',
    unit: 'MB',
    better: 'lower',
    read: (r, rss) =>
      rss === 'sampled'
        ? r.sampledPeakRssMb
        : rss === 'high-water mark'
          ? r.peakRssMb
          : (r.peakRssMb ?? r.sampledPeakRssMb),
  },
};

/**
 * What a comparison sets side by side for every server, whatever the headline: what an order costs, in time, CPU and
 * memory.
 */
export const COMPARED_FIGURES: readonly HeadlineKind[] = ['throughput', 'p50', 'p99', 'cpuPerOrder', 'peakRss'];

/** "1,299 orders/s", "p99 212.4 ms", "peak RSS 764 MB". */
export function formatHeadline(kind: HeadlineKind, value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '—';
  const headline = HEADLINES[kind];
  if (kind === 'throughput') return `${Math.round(value).toLocaleString('en-US')} ${headline.unit}`;
  if (kind === 'peakRss') return `peak RSS ${formatFigure(value)} ${headline.unit}`;
  if (kind === 'cpuPerOrder') return `${formatFigure(value)} CPU-µs per order`;
  return `${kind} ${formatFigure(value)} ${headline.unit}`;
}
