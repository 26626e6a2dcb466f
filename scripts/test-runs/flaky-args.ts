/**
 * The flake hunt's command line: its own `--runs N` and `--busy K`, and everything else for Vitest, as written. Read
 * loosely, `--project integration` lost its option: Vitest was given `integration` alone, a file filter that every
 * integration file matches, and the hunt ran the whole integration suite instead of the files named.
 */
import { parseArgs } from 'node:util';

export interface FlakyArgs {
  readonly runs: number;
  readonly busy: number;
  /** In the order given: options with their values, file filters. */
  readonly vitest: readonly string[];
}

const OWN = new Set(['runs', 'busy']);

export function flakyArgs(argv: readonly string[]): FlakyArgs {
  const { values, tokens } = parseArgs({
    args: [...argv],
    options: { runs: { type: 'string', default: '3' }, busy: { type: 'string', default: '0' } },
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const vitest: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') vitest.push(token.value);
    else if (token.kind === 'option-terminator') vitest.push('--');
    else if (!OWN.has(token.name)) vitest.push(token.inlineValue ? `${token.rawName}=${token.value}` : token.rawName);
  }
  return {
    runs: Math.max(1, count(values.runs, 'runs')),
    busy: count(values.busy, 'busy'),
    vitest,
  };
}

function count(raw: unknown, name: string): number {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`--${name} must be a whole number, got ${String(raw)}`);
  return value;
}
