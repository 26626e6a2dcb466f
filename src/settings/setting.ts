/**
 * What a setting is: one environment variable, declared once with its rule
 * (a zod schema), its default, what the operator guide says of it, and the
 * mode that needs it. The builders below make the common kinds; the reader
 * (read-settings.ts) and the guide's table (settings-table.ts) both work from
 * what they return, so the error line, the parsed value and the table row
 * cannot disagree.
 */
import { z } from 'zod';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export type Env = Readonly<Record<string, string | undefined>>;

/** What the settings read of the machine besides the environment. */
export interface Machine {
  /** RLIMIT_NOFILE, read from /proc by default; undefined if unknown. */
  readonly openFileLimit: number | undefined;
  /** Whether stdout is a terminal (someone is watching the log): LOG_BUFFER's default is then off. */
  readonly stdoutIsTerminal?: boolean;
}

/**
 * The mode a setting belongs to, for the guide; two are also enforced. `durable`: such a setting given without
 * DATABASE_URL stops the process, so a typo is never silently ignored. `tracing`: read only when tracing is on (an
 * OTLP endpoint set, OTEL_SDK_DISABLED not true), as the OpenTelemetry SDK reads its variables.
 */
export type Mode = 'durable' | 'keys' | 'open' | 'tracing' | 'kubernetes';

/** What a bound or a default may depend on: the settings declared before it, and the machine. */
export interface Read {
  readonly env: Env;
  readonly machine: Machine;
  number(name: string): number;
  text(name: string): string;
}

export interface Setting<T, F extends string | undefined = string | undefined> {
  /** One line for the guide: what it does. */
  readonly about: string;
  /** The default, as the guide says it. */
  readonly default: string;
  /** What is allowed, as the guide says it. */
  readonly allowed: string;
  readonly needs: Mode | undefined;
  /** The Config field that holds the value as parsed; undefined when config.ts composes it with others. */
  readonly field: F;
  /** Never repeated in an error line (a key, a password). */
  readonly secret: boolean;
  /** What the value must be: the start-up error says `NAME must be <rule>, got "value"`. */
  readonly rule: (read: Read) => string;
  readonly schema: (read: Read) => z.ZodType<T, string>;
  /** The value when the variable is unset or empty. */
  readonly fallback: (read: Read) => T;
  /** Said after the refused value: where a bound came from and how to move it. */
  readonly hint?: (read: Read) => string | undefined;
  /** For X_FILE: the secret X it holds instead of the variable, and how (src/config.ts reads it before the rest). */
  readonly holds?: SecretFile;
}

/** A secret's file: one entry a line (blank lines and # comments skipped), or the whole file, trimmed. */
export interface SecretFile {
  readonly variable: string;
  readonly shape: 'lines' | 'whole';
}

export type ValueOf<S> = S extends Setting<infer T> ? T : never;

/** The Config fields a group of settings fills as parsed: `{ [field]: value }`. */
export type FieldsOf<G> = {
  readonly [N in keyof G as G[N] extends { field: infer F extends string } ? F : never]: ValueOf<G[N]>;
};

type Bound = number | ((read: Read) => number);
const at = (bound: Bound, read: Read): number => (typeof bound === 'number' ? bound : bound(read));

interface Describe<F extends string | undefined> {
  readonly about: string;
  readonly field?: F;
  readonly needs?: Mode;
  /** For the guide, when the default is not a plain value. */
  readonly default?: string;
  /** For the guide, when the range is not plain numbers. */
  readonly allowed?: string;
}

function described<T, F extends string | undefined>(
  spec: Describe<F>,
  rest: Pick<Setting<T, F>, 'rule' | 'schema' | 'fallback' | 'default' | 'allowed'> &
    Partial<Pick<Setting<T, F>, 'hint' | 'secret'>>,
): Setting<T, F> {
  return {
    about: spec.about,
    needs: spec.needs,
    field: spec.field as F,
    secret: rest.secret ?? false,
    ...rest,
    default: spec.default ?? rest.default,
    allowed: spec.allowed ?? rest.allowed,
  };
}

const DIGITS = /^\d+$/;

/** A whole number from `min` to `max`; `why` is said after the range, when a bound is derived. */
export function integer<const F extends string | undefined = undefined>(
  spec: Describe<F> & {
    readonly min: Bound;
    readonly max: Bound;
    readonly fallback: Bound;
    readonly why?: (read: Read) => string;
    readonly hint?: (read: Read) => string | undefined;
  },
): Setting<number, F> {
  return described(spec, {
    rule: (read) =>
      `an integer from ${at(spec.min, read)} to ${at(spec.max, read)}${spec.why ? ` (${spec.why(read)})` : ''}`,
    schema: (read) =>
      z
        .string()
        .regex(DIGITS)
        .transform(Number)
        .pipe(z.number().int().min(at(spec.min, read)).max(at(spec.max, read))),
    fallback: (read) => at(spec.fallback, read),
    ...(spec.hint ? { hint: spec.hint } : {}),
    default: typeof spec.fallback === 'number' ? String(spec.fallback) : '(derived)',
    allowed: typeof spec.min === 'number' && typeof spec.max === 'number' ? `${spec.min}–${spec.max}` : '(derived)',
  });
}

/** A whole number from `min` to `max`, or undefined when unset (another setting decides then). */
export function optionalInteger<const F extends string | undefined = undefined>(
  spec: Describe<F> & { readonly min: number; readonly max: number },
): Setting<number | undefined, F> {
  return described(spec, {
    rule: () => `an integer from ${spec.min} to ${spec.max}`,
    schema: () => z.string().regex(DIGITS).transform(Number).pipe(z.number().int().min(spec.min).max(spec.max)),
    fallback: () => undefined,
    default: 'unset',
    allowed: `${spec.min}–${spec.max}`,
  });
}

/** One of a few words. */
export function oneOf<const V extends string, const F extends string | undefined = undefined>(
  values: readonly V[],
  spec: Describe<F> & { readonly fallback: V | ((read: Read) => V) },
): Setting<V, F> {
  const { fallback } = spec;
  return described(spec, {
    rule: () => `one of ${values.join(', ')}`,
    schema: () => z.enum(values as [V, ...V[]]),
    fallback: (read) => (typeof fallback === 'function' ? fallback(read) : fallback),
    default: typeof fallback === 'string' ? fallback : '(derived)',
    allowed: values.join(', '),
  });
}

/** `on` or `off`, as a boolean. */
export function onOff<const F extends string | undefined = undefined>(
  spec: Describe<F> & { readonly fallback: boolean | ((read: Read) => boolean) },
): Setting<boolean, F> {
  const { fallback } = spec;
  return described(spec, {
    rule: () => 'one of on, off',
    schema: () => z.enum(['on', 'off']).transform((value) => value === 'on'),
    fallback: (read) => (typeof fallback === 'function' ? fallback(read) : fallback),
    default: typeof fallback === 'boolean' ? (fallback ? 'on' : 'off') : '(derived)',
    allowed: 'on, off',
  });
}

/**
 * Any other value: `schema` checks and converts it, `rule` says what it must be. A value that is a secret is never
 * repeated in an error.
 */
export function custom<T, const F extends string | undefined = undefined>(
  spec: Describe<F> & {
    readonly rule: string | ((read: Read) => string);
    readonly schema: z.ZodType<T, string>;
    readonly fallback: T | ((read: Read) => T);
    readonly default: string;
    readonly allowed: string;
    readonly secret?: boolean;
  },
): Setting<T, F> {
  const { rule, fallback } = spec;
  return described(spec, {
    rule: (read) => (typeof rule === 'string' ? rule : rule(read)),
    schema: () => spec.schema,
    fallback: (read) => (typeof fallback === 'function' ? (fallback as (read: Read) => T)(read) : fallback),
    default: spec.default,
    allowed: spec.allowed,
    secret: spec.secret ?? false,
  });
}

/** Text taken as given (its meaning checked where it is composed, as the keys are), or undefined when unset. */
export function text<const F extends string | undefined = undefined>(
  spec: Describe<F> & { readonly default: string; readonly allowed: string; readonly secret?: boolean },
): Setting<string | undefined, F> {
  return custom<string | undefined, F>({
    ...spec,
    rule: spec.allowed,
    schema: z.string(),
    fallback: undefined,
  });
}

/** A file holding the secret `holds.variable` instead of the variable (X_FILE for X), as an orchestrator mounts it. */
export function secretFile(
  holds: SecretFile,
  spec: Describe<undefined> & { readonly allowed: string },
): Setting<string | undefined, undefined> {
  return { ...text({ ...spec, default: 'unset' }), holds };
}

/** `name:n` pairs, comma-separated, each name at most once and allowed by `named`. */
export function pairs(named: (name: string) => boolean, min: number, max: number) {
  return z.string().transform((raw, context) => {
    const found = new Map<string, number>();
    for (const entry of raw.split(',')) {
      const match = /^\s*([^:\s]+)\s*:\s*(\d+)\s*$/.exec(entry);
      const name = match?.[1] ?? '';
      const value = Number(match?.[2]);
      if (!match || !named(name) || found.has(name) || value < min || value > max) {
        context.addIssue({ code: 'custom', message: 'pairs' });
        return z.NEVER;
      }
      found.set(name, value);
    }
    return found;
  });
}
