/** Reading Prometheus' text format, as far as the load suite reads /metrics. */

const finiteOrNull = (value: number): number | null => (Number.isFinite(value) ? value : null);

/** A gauge's value from Prometheus text, e.g. `nodejs_eventloop_lag_p99_seconds 0.012`. */
export function gaugeValue(text: string, name: string): number | null {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([^\\s]+)`, 'm').exec(text);
  return match ? finiteOrNull(Number(match[1])) : null;
}

/** A gauge's values over all its labels, added up (`client_order_record_bytes` over every client); null if none. */
export function gaugeSum(text: string, name: string): number | null {
  const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([^\\s]+)`, 'gm'))].map((match) =>
    Number(match[1]),
  );
  return values.length === 0 ? null : finiteOrNull(values.reduce((sum, value) => sum + value, 0));
}
