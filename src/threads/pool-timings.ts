/**
 * How long the pool's tasks waited for a thread and ran on it, since start, as histograms: what Piscina's own figures
 * would say of its tasks, for the pool's tasks, which Piscina never sees (they travel by ring). A task is what one turn
 * wrote to one thread: it waited from its first batch's posting to its write, and ran from its write until its last
 * step's answer was read.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

export type Quantiles = Readonly<Record<'p50' | 'p90' | 'p99', number>>;

/** In microseconds: a histogram records positive integers. */
const record = (histogram: RecordableHistogram, ms: number): void =>
  histogram.record(Math.max(1, Math.round(ms * 1000)));

/** Milliseconds, once anything is recorded. */
function quantilesOf(histogram: RecordableHistogram): Quantiles | undefined {
  if (histogram.count === 0) return undefined;
  return {
    p50: histogram.percentile(50) / 1000,
    p90: histogram.percentile(90) / 1000,
    p99: histogram.percentile(99) / 1000,
  };
}

export class PoolTimings {
  private readonly waits = createHistogram();
  private readonly runs = createHistogram();

  taskWaited(ms: number): void {
    record(this.waits, ms);
  }

  taskRan(ms: number): void {
    record(this.runs, ms);
  }

  get waitTime(): Quantiles | undefined {
    return quantilesOf(this.waits);
  }

  get runTime(): Quantiles | undefined {
    return quantilesOf(this.runs);
  }
}
