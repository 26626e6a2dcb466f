/** Reading Prometheus' text format, as far as the load suite reads /metrics. */

const finiteOrNull = (value: number): number | null => (Number.isFinite(value) ? value : null);

/** A gauge's value from Prometheus text, e.g. `nodejs_eventloop_lag_p99_seconds 0.012`. */
export function gaugeValue(text: string, name: string): number | null {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([^\\s]+)`, 'm').exec(text);
  return match ? finiteOrNull(Number(match[1])) : null;
}
