/**
 * The performance targets of the load scenarios, on a 2-core machine with the
 * load generator on the same machine. Benchmarks, not gates: reported as met
 * or not, never failing the run.
 */
import type { ScenarioResult } from '../report/types.js';

type Measured = Omit<ScenarioResult, 'target'>;
type Target = (result: Measured) => { text: string; figure: string; met: boolean };

export const TARGETS: Readonly<Record<string, Target>> = {
  light: ({ latency }) => ({ text: 'p50 within 3 ms of the 200 ms floor', figure: `p50 ${latency.p50.toFixed(1)} ms`, met: latency.p50 <= 203 }),
  'fail-fast': ({ latency }) => ({ text: 'p99 within 10 ms of 150 ms', figure: `p99 ${latency.p99.toFixed(1)} ms`, met: latency.p99 <= 160 }),
  overhead: ({ requestsPerSec }) => ({ text: 'at least 3,000 orders/s', figure: `${requestsPerSec} orders/s`, met: requestsPerSec >= 3000 }),
  wide: ({ peakRssMb, peakOrdersInFlight }) => ({
    text: '10,000 orders in flight under 400 MB RSS',
    figure: `${peakOrdersInFlight ?? '?'} in flight, peak RSS ${peakRssMb ?? '?'} MB`,
    met: (peakOrdersInFlight ?? 0) >= 10_000 && peakRssMb !== null && peakRssMb < 400,
  }),
};
