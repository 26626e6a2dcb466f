/**
 * Measuring in rounds, as every benchmark script here does: its command line
 * (`--rounds`, `--help` and options of its own), rounds with progress on
 * stderr, and each figure as the median of its rounds with their spread
 * (min–max) — ratios too, taken pair by pair within a round, since this
 * machine drifts more between minutes than two runs of the same round differ.
 */
import { parseArgs } from 'node:util';

type Described = { readonly help: string };
export type OptionSpec =
  | (Described & { readonly type: 'integer'; readonly default?: number; readonly min?: number })
  | (Described & { readonly type: 'number'; readonly default?: number })
  | (Described & { readonly type: 'string'; readonly default?: string; readonly placeholder?: string })
  | (Described & { readonly type: 'strings'; readonly placeholder?: string })
  | (Described & { readonly type: 'boolean' });

type ValueOf<O extends OptionSpec> = O extends { type: 'integer' | 'number' }
  ? O extends { default: number }
    ? number
    : number | undefined
  : O extends { type: 'string' }
    ? O extends { default: string }
      ? string
      : string | undefined
    : O extends { type: 'strings' }
      ? string[]
      : boolean;

export type OptionValues<S extends Readonly<Record<string, OptionSpec>>> = { -readonly [K in keyof S]: ValueOf<S[K]> };

export interface CommandLine {
  /** e.g. `npm run bench --` */
  readonly command: string;
  /** What the script measures, one or two lines. */
  readonly summary: string;
  /** Positional arguments, e.g. `[SCENARIO…]`; none allowed when absent. */
  readonly positionals?: string;
  /** Lines after the options (examples, notes). */
  readonly notes?: readonly string[];
}

/** `--rounds N`, the option every script has. */
export const roundsOption = (rounds: number) => ({ type: 'integer', default: rounds, min: 1, help: 'rounds; each figure is the median of its rounds, with their min–max' }) as const;

function usage(line: CommandLine, spec: Readonly<Record<string, OptionSpec>>): string {
  const rows = Object.entries(spec).map(([name, option]) => {
    const value = option.type === 'boolean' ? '' : option.type === 'integer' ? ' N' : option.type === 'number' ? ' X' : ` ${('placeholder' in option && option.placeholder) || 'VALUE'}`;
    const fallback = 'default' in option && option.default !== undefined ? ` (default ${option.default})` : '';
    return [`  --${name}${value}${option.type === 'strings' ? ' …' : ''}`, `${option.help}${fallback}`] as const;
  });
  rows.push(['  --help', 'this text']);
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  return [
    `usage: ${line.command} ${line.positionals ? `${line.positionals} ` : ''}[options]`,
    '',
    line.summary,
    '',
    'options:',
    ...rows.map(([flag, help]) => flag.padEnd(width) + help),
    ...(line.notes && line.notes.length > 0 ? ['', ...line.notes] : []),
  ].join('\n');
}

function fail(message: string): never {
  console.error(`${message} (--help lists the options)`);
  process.exit(2);
}

/**
 * The script's options from process.argv, checked; prints the usage and
 * exits on --help, exits 2 with a message on anything it does not accept.
 */
export function parseCommandLine<const S extends Readonly<Record<string, OptionSpec>>>(
  line: CommandLine,
  spec: S,
  argv: readonly string[] = process.argv.slice(2),
): { values: OptionValues<S>; positionals: string[] } {
  const options: Record<string, { type: 'boolean' | 'string'; multiple?: boolean }> = {};
  for (const [name, option] of Object.entries(spec)) options[name] = option.type === 'boolean' ? { type: 'boolean' } : { type: 'string', multiple: option.type === 'strings' };
  options['help'] = { type: 'boolean' };
  let parsed: { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: line.positionals !== undefined, strict: true }) as typeof parsed;
  } catch (error) {
    fail((error as Error).message);
  }
  if (parsed.values['help']) {
    console.log(usage(line, spec));
    process.exit(0);
  }
  const values: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(spec)) {
    const raw = parsed.values[name];
    if (option.type === 'boolean') values[name] = raw === true;
    else if (option.type === 'strings') values[name] = raw ?? [];
    else if (option.type === 'string') values[name] = raw ?? option.default;
    else if (raw === undefined) values[name] = option.default;
    else {
      const value = Number(raw);
      if (option.type === 'integer' && (!Number.isInteger(value) || value < (option.min ?? 1))) fail(`--${name} must be an integer ≥ ${option.min ?? 1}, got ${String(raw)}`);
      if (option.type === 'number' && !(value > 0)) fail(`--${name} must be a number > 0, got ${String(raw)}`);
      values[name] = value;
    }
  }
  return { values: values as OptionValues<S>, positionals: parsed.positionals };
}

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
  const median = sorted.length === 0 ? NaN : sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
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
  return spread.values.length <= 1 || low === high ? format(spread.median) : `${format(spread.median)} (${low}–${high})`;
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
