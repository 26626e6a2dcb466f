/** Reading a Prometheus text exposition in tests: each sample by its name and labels. */
import { EXPOSITION_REUSE_MS } from '../../src/observability/metrics.js';
import { pause } from './wait.js';

export type Samples = ReadonlyMap<string, number>;

/** `name{a="1",b="2"}` with labels sorted, so a test can name a sample in any label order. */
export function sampleKey(name: string, labels: Record<string, string> = {}): string {
  const pairs = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}="${value}"`);
  return pairs.length ? `${name}{${pairs.join(',')}}` : name;
}

export function parseSamples(text: string): Samples {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    samples.set(sampleKey(match[1]!, labels), Number(match[3]));
  }
  return samples;
}

/** How much a sample grew between two scrapes (a sample that did not exist counts as 0). */
export function growth(before: Samples, after: Samples, name: string, labels: Record<string, string> = {}): number {
  const key = sampleKey(name, labels);
  return (after.get(key) ?? 0) - (before.get(key) ?? 0);
}

/**
 * The service's metrics with everything done before the call counted. A scrape within EXPOSITION_REUSE_MS of a
 * collection gets that collection's exposition, which may be older than the last orders: so the call first lets that
 * long pass, and whatever it is served was collected after the call began. The status and type are checked: an
 * answer that is not the exposition would read as no samples.
 */
export async function scrapeSettled(base: URL, headers: Record<string, string> = {}): Promise<Samples> {
  await pause(EXPOSITION_REUSE_MS + 5);
  const response = await fetch(new URL('/metrics', base), { headers });
  const text = await response.text();
  if (response.status !== 200 || !response.headers.get('content-type')?.startsWith('text/plain'))
    throw new Error(`GET /metrics: ${response.status} ${text.slice(0, 200)}`);
  return parseSamples(text);
}
