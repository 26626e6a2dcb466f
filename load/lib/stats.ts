/**
 * Summaries of recorded responses: percentiles, a timeline in bins, a histogram with buckets fitted to the data.
 * Latencies in milliseconds.
 */

export interface LatencySummary {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Latency and throughput over the run, in fixed time bins. */
export interface Timeline {
  /** Bin width in seconds. */
  readonly binSec: number;
  /** Start of each bin, in seconds since the scenario started. */
  readonly t: number[];
  /** Responses per second in each bin. */
  readonly rps: number[];
  /** Latency percentiles of the responses that completed in each bin (null: no response in that bin). */
  readonly p50: Array<number | null>;
  readonly p99: Array<number | null>;
  readonly max: Array<number | null>;
}

/** Latency distribution: counts[i] responses took at most upperMs[i] (and more than upperMs[i - 1]). */
export interface Histogram {
  readonly upperMs: number[];
  readonly counts: number[];
}

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
  const pick = (p: number) =>
    byBin.map((values) =>
      values.length
        ? round(
            percentile(
              [...values].sort((a, b) => a - b),
              p,
            ),
          )
        : null,
    );
  return {
    binSec,
    t: byBin.map((_, i) => round(i * binSec)),
    rps: byBin.map((values) => round(values.length / binSec)),
    p50: pick(50),
    p99: pick(99),
    max: pick(100),
  };
}

/** The most buckets a histogram gets, however wide its data: a chart has only so many pixels. */
const MOST_BUCKETS = 400;
/** Buckets across the middle 98% of the responses: fine enough to show the shape of a narrow distribution. */
const CORE_BUCKETS = 40;
/** Never coarser than 20 per decade (12% per bucket), never finer than 0.05% per bucket. */
const COARSEST = 10 ** (1 / 20);
const FINEST = 1.0005;

/**
 * Log-spaced bucket bounds fitted to the data: each bucket a constant ratio
 * wider than the last, the ratio chosen so that the middle 98% of the
 * responses spans about 40 buckets. So 203–213 ms (light) gets buckets of
 * about a quarter of a millisecond, 5–950 ms (overhead) buckets 5% wide; a
 * long tail gets more buckets of the same ratio, up to 400.
 */
export function histogramBounds(latencies: readonly number[]): number[] {
  const sorted = latencies.filter((latency) => latency > 0).sort((a, b) => a - b);
  if (sorted.length === 0) return [1];
  const lowest = sorted[0]!;
  const highest = sorted.at(-1)!;
  const core = percentile(sorted, 99) / percentile(sorted, 1);
  let ratio = Math.min(COARSEST, Math.max(FINEST, core ** (1 / CORE_BUCKETS)));
  // Widen the buckets until the whole range fits in MOST_BUCKETS.
  ratio = Math.max(ratio, (highest / lowest) ** (1 / MOST_BUCKETS));
  const upperMs: number[] = [];
  for (let bound = lowest; ; bound *= ratio) {
    const rounded = Number(bound.toPrecision(6));
    if (rounded !== upperMs.at(-1)) upperMs.push(rounded);
    if (rounded >= highest) break;
  }
  return upperMs;
}

/** Counts of latencies per bucket: counts[i] are in (upperMs[i - 1], upperMs[i]]; beyond the last, in the last. */
export function histogram(
  latencies: readonly number[],
  upperMs: readonly number[] = histogramBounds(latencies),
): Histogram {
  const counts = upperMs.map(() => 0);
  for (const latency of latencies) {
    // The first bound at or above the latency, by bisection.
    let low = 0;
    let high = upperMs.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (upperMs[middle]! < latency) low = middle + 1;
      else high = middle;
    }
    counts[low]!++;
  }
  return { upperMs: [...upperMs], counts };
}
