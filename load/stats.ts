/** Summaries of recorded responses: percentiles, a timeline in bins, a log-spaced histogram. */
import type { Histogram, LatencySummary, Timeline } from './report-types.js';

/** One response: when it completed (ms since the scenario started) and how long it took (ms). */
export interface Sample {
  readonly at: number;
  readonly latency: number;
}

/** Nearest-rank percentile of values already sorted ascending. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const round = (value: number): number => Math.round(value * 100) / 100;

export function summarize(latencies: readonly number[]): LatencySummary {
  const sorted = [...latencies].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / (sorted.length || 1);
  return {
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? NaN),
    mean: round(mean),
  };
}

export function timeline(samples: readonly Sample[], durationMs: number, binSec: number): Timeline {
  const binMs = binSec * 1000;
  const bins = Math.max(1, Math.ceil(durationMs / binMs));
  const byBin: number[][] = Array.from({ length: bins }, () => []);
  for (const { at, latency } of samples) byBin[Math.min(bins - 1, Math.floor(at / binMs))]!.push(latency);
  const pick = (p: number) => byBin.map((values) => (values.length ? round(percentile([...values].sort((a, b) => a - b), p)) : null));
  return {
    binSec,
    t: byBin.map((_, i) => round(i * binSec)),
    rps: byBin.map((values) => round(values.length / binSec)),
    p50: pick(50),
    p99: pick(99),
    max: pick(100),
  };
}

/** Buckets from 1 ms, each about 12% wider than the last (20 per decade). */
export function histogram(latencies: readonly number[]): Histogram {
  const top = latencies.reduce((most, latency) => Math.max(most, latency), 1);
  const upperMs: number[] = [];
  for (let bound = 1; ; bound *= 10 ** (1 / 20)) {
    upperMs.push(round(bound));
    if (bound >= top) break;
  }
  const counts = upperMs.map(() => 0);
  for (const latency of latencies) {
    let i = 0;
    while (upperMs[i]! < latency) i++;
    counts[i]!++;
  }
  return { upperMs, counts };
}
