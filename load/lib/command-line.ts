/**
 * A measuring script's command line: its options typed from a spec, checked
 * (integers are integers, a missing value is the default), `--help` printing
 * the usage from the same spec, and exit 2 with a message on anything else.
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
  /** e.g. `npm run measure -- bench` */
  readonly command: string;
  /** What the script measures, one or two lines. */
  readonly summary: string;
  /** Positional arguments, e.g. `[SCENARIO…]`; none allowed when absent. */
  readonly positionals?: string;
  /** Lines after the options (examples, notes). */
  readonly notes?: readonly string[];
}

function usage(line: CommandLine, spec: Readonly<Record<string, OptionSpec>>): string {
  const rows = Object.entries(spec).map(([name, option]) => {
    const value =
      option.type === 'boolean'
        ? ''
        : option.type === 'integer'
          ? ' N'
          : option.type === 'number'
            ? ' X'
            : ` ${('placeholder' in option && option.placeholder) || 'VALUE'}`;
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
  for (const [name, option] of Object.entries(spec))
    options[name] =
      option.type === 'boolean' ? { type: 'boolean' } : { type: 'string', multiple: option.type === 'strings' };
  options['help'] = { type: 'boolean' };
  let parsed: { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...argv],
      options,
      allowPositionals: line.positionals !== undefined,
      strict: true,
    }) as typeof parsed;
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
      if (option.type === 'integer' && (!Number.isInteger(value) || value < (option.min ?? 1)))
        fail(`--${name} must be an integer ≥ ${option.min ?? 1}, got ${String(raw)}`);
      if (option.type === 'number' && !(value > 0)) fail(`--${name} must be a number > 0, got ${String(raw)}`);
      values[name] = value;
    }
  }
  return { values: values as OptionValues<S>, positionals: parsed.positionals };
}
