/**
 * One source for every setting: docs/settings.md is what the declarations
 * (src/settings/settings.ts) generate, and every environment variable the
 * service reads is declared there — so the operator guide names it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pathOf, PROJECT_ROOT } from '../../src/paths.js';
import { loadConfig } from '../../src/config.js';
import { settingsPage } from '../../src/settings/settings-table.js';
import { REMOVED, SETTINGS } from '../../src/settings/settings.js';

const ROOT = pathOf(PROJECT_ROOT);

/** The names read as env['NAME'], env.NAME or process.env['NAME'] anywhere under `dir`. */
function variablesReadUnder(dir: string): Map<string, string> {
  const read = new Map<string, string>();
  for (const file of readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts')) continue;
    const source = readFileSync(join(ROOT, dir, file), 'utf8');
    for (const match of source.matchAll(/\benv(?:\[['"]([A-Z][A-Z0-9_]*)['"]\]|\.([A-Z][A-Z0-9_]*)\b)/g))
      read.set(match[1] ?? match[2] ?? '', join(dir, file));
  }
  return read;
}

describe('the settings', () => {
  it('are what docs/settings.md says (run `npm run openapi` after declaring or changing one)', () => {
    expect(readFileSync(join(ROOT, 'docs/settings.md'), 'utf8')).toBe(settingsPage());
  });

  it('are every environment variable src/ reads', () => {
    const read = variablesReadUnder('src');
    // Most are read through the declarations; these are read by name (the scan sees them).
    expect([...read.keys()]).toEqual(expect.arrayContaining(['API_KEYS', 'BUILD_COMMIT', 'KUBERNETES_SERVICE_HOST']));
    const undeclared = [...read].filter(([name]) => !(name in SETTINGS) && !(name in REMOVED));
    expect(undeclared.map(([name, file]) => `${name} (${file})`)).toEqual([]);
  });

  it('each say what they do, what they default to and what they allow', () => {
    for (const [name, setting] of Object.entries(SETTINGS)) {
      expect(setting.about, name).not.toBe('');
      expect(setting.default, name).not.toBe('(derived)');
      expect(setting.allowed, name).not.toBe('(derived)');
    }
  });

  it("read tracing's variables only when tracing is on, as the OpenTelemetry SDK does", () => {
    const machine = { openFileLimit: 20_000 };
    const unread = { OTEL_TRACES_SAMPLER: 'jaeger_remote', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' };
    expect(loadConfig({ THREADS: '2', ...unread }, machine).tracing).toBeUndefined();
    expect(
      loadConfig(
        { THREADS: '2', OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318', ...unread },
        machine,
      ).tracing,
    ).toBeUndefined();
    expect(() =>
      loadConfig({ THREADS: '2', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', ...unread }, machine),
    ).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported|OTEL_TRACES_SAMPLER must be one of/);
  });
});
