/**
 * `npm run chaos -- --seconds N [--seed S] [--database-url URL] [--clients N]`:
 * the command line, checked. A bad one is a usage error (exit 2), said in one
 * line with the usage.
 */
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';

export const USAGE = 'usage: npm run chaos -- --seconds N [--seed S] [--database-url URL] [--clients N]';

export interface ChaosOptions {
  /** How long the nemesis and the clients run; setup and checks come on top. */
  readonly seconds: number;
  readonly seed: number;
  /** A Postgres server to run on (a fresh database is made on it); undefined: a throwaway server. */
  readonly databaseUrl: string | undefined;
  /** Clients sending orders at once. */
  readonly clients: number;
}

export type Parsed =
  { readonly ok: true; readonly options: ChaosOptions } | { readonly ok: false; readonly message: string };

function integer(raw: string | undefined, name: string, min: number, max: number): number | string {
  if (raw === undefined) return `--${name} is required`;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  return Number.isSafeInteger(value) && value >= min && value <= max
    ? value
    : `--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`;
}

export function parseOptions(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Parsed {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        seconds: { type: 'string' },
        seed: { type: 'string' },
        'database-url': { type: 'string' },
        clients: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
  const seconds = integer(values['seconds'], 'seconds', 5, 3600);
  const seed = values['seed'] === undefined ? randomInt(2 ** 32) : integer(values['seed'], 'seed', 0, 2 ** 32 - 1);
  const clients = values['clients'] === undefined ? 8 : integer(values['clients'], 'clients', 1, 200);
  for (const value of [seconds, seed, clients]) if (typeof value === 'string') return { ok: false, message: value };
  const databaseUrl = values['database-url'] ?? (env['DATABASE_URL'] || undefined);
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\/./.test(databaseUrl))
    return { ok: false, message: '--database-url must be a postgres://user:password@host:port/database URL' };
  return {
    ok: true,
    options: { seconds: seconds as number, seed: seed as number, clients: clients as number, databaseUrl },
  };
}
