/**
 * Reads every declared setting from the environment, in the order declared
 * (a bound may depend on a setting declared before it). The first one that
 * breaks its rule stops the reading with one line naming it and what it
 * allows. An empty value counts as unset.
 */
import { ConfigError, type Env, type Machine, type Read, type Setting, type ValueOf } from './setting.js';

export type Values<D> = { readonly [N in keyof D]: ValueOf<D[N]> };

export function readSettings<D extends Readonly<Record<string, Setting<unknown>>>>(
  declarations: D,
  env: Env,
  machine: Machine,
): Values<D> {
  const values: Record<string, unknown> = {};
  const earlier = (name: string): unknown => {
    if (!(name in values)) throw new Error(`${name} is read before it is declared (src/settings/)`);
    return values[name];
  };
  const read: Read = {
    env,
    machine,
    number: (name) => earlier(name) as number,
    text: (name) => earlier(name) as string,
  };
  const durable = Boolean(env['DATABASE_URL']);
  // As the OpenTelemetry SDK does: with no endpoint, or the SDK disabled, its variables are not read at all.
  const tracing =
    env['OTEL_SDK_DISABLED'] !== 'true' &&
    Boolean(env['OTEL_EXPORTER_OTLP_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']);
  for (const [name, setting] of Object.entries(declarations)) {
    const raw = env[name];
    if (raw === undefined || raw === '' || (setting.needs === 'tracing' && !tracing)) {
      values[name] = setting.fallback(read);
      continue;
    }
    if (setting.needs === 'durable' && !durable) throw new ConfigError(`${name} needs DATABASE_URL (the durable mode)`);
    const parsed = setting.schema(read).safeParse(raw);
    if (!parsed.success) {
      const shown = setting.secret ? 'something else' : JSON.stringify(raw);
      const hint = setting.hint?.(read);
      throw new ConfigError(`${name} must be ${setting.rule(read)}, got ${shown}${hint ? ` (${hint})` : ''}`);
    }
    values[name] = parsed.data;
  }
  return values as Values<D>;
}
