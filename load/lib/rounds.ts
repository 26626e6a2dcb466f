/**
 * Measuring in rounds, as every benchmark script here does: rounds with
 * progress on stderr, and each figure as the median of its rounds with their
 * spread (min–max) — ratios too, taken pair by pair within a round, since this
 * machine drifts more between minutes than two runs of the same round differ.
 */

/** `--rounds N`, the option every script has. */
export const roundsOption = (rounds: number) =>
  ({
    type: 'integer',
    default: rounds,
    min: 1,
    help: 'rounds; each figure is the median of its rounds, with their min–max',
  }) as const;

const startedAt = performance.now();

/** A progress line on stderr, stamped with the seconds since the script started. */
export function progress(message: string): void {
  process.stderr.write(`[${((performance.now() - startedAt) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
}

/** Run `round` for rounds 1…n one after another; a progress line before each. */
export async function inRounds<T>(rounds: number, round: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let index = 1; index <= rounds; index++) {
    progress(`round ${index}/${rounds}`);
    results.push(await round(index));
  }
  return results;
}

/** A figure over its rounds. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Every round's value, in round order. */
  readonly values: readonly number[];
}

/** Median (the mean of the middle two for an even count), min and max; NaN for none. */
export function spreadOf(values: readonly number[]): Spread {
  const finite = values.filter(Number.isFinite);
  const sorted = [...finite].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median =
    sorted.length === 0 ? NaN : sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0] ?? NaN, max: sorted.at(-1) ?? NaN, values: [...values] };
}

/** a[i] ÷ b[i] for each round i: a ratio within a round, where both sides saw the same state of the machine. */
export function pairRatios(a: readonly number[], b: readonly number[]): number[] {
  return a.map((value, i) => value / (b[i] ?? NaN));
}

const grouped = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** A figure with as many decimals as still say something: 1,299 · 48.2 · 7.31 · 0.372. */
export function formatFigure(value: number): string {
  if (!Number.isFinite(value)) return '—';
  const size = Math.abs(value);
  if (size >= 100) return grouped.format(value);
  return value.toFixed(size >= 10 ? 1 : size >= 1 ? 2 : 3);
}

/** "1,299 (998–1,889)": the median, then min–max of the rounds (just the value for one round). */
export function formatSpread(spread: Spread, format: (value: number) => string = formatFigure): string {
  const [low, high] = [format(spread.min), format(spread.max)];
  return spread.values.length <= 1 || low === high
    ? format(spread.median)
    : `${format(spread.median)} (${low}–${high})`;
}

/**
 * "0.75× (0.49–1.69)": the ratios' median — or `center`, e.g. the ratio of two
 * medians — then the min–max of the ratios pair by pair.
 */
export function formatRatio(ratios: Spread, center: number = ratios.median): string {
  const format = (value: number): string => (Number.isFinite(value) ? value.toFixed(2) : '—');
  const [low, high] = [format(ratios.min), format(ratios.max)];
  return ratios.values.length <= 1 || low === high ? `${format(center)}×` : `${format(center)}× (${low}–${high})`;
}
