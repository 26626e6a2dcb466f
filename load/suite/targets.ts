/**
 * The performance targets of the load scenarios, on a 2-core machine with the
 * load generator on the same machine. Benchmarks, not gates: reported as met
 * or not, never failing the run.
 */
import type { ScenarioResult } from '../report/types.js';

type Measured = Omit<ScenarioResult, 'target'>;

export interface Target {
  /** What the target asks, e.g. "at least 3,000 orders/s". */
  readonly text: string;
  /** The figure it is judged by, as measured, and whether it meets it. */
  judge(result: Measured): { figure: string; met: boolean };
}

export const TARGETS: Readonly<Record<string, Target>> = {
  light: {
    text: 'p50 within 3 ms of the 200 ms floor',
    judge: ({ latency }) => ({ figure: `p50 ${latency.p50.toFixed(1)} ms`, met: latency.p50 <= 203 }),
  },
  'fail-fast': {
    text: 'p99 within 10 ms of 150 ms',
    judge: ({ latency }) => ({ figure: `p99 ${latency.p99.toFixed(1)} ms`, met: latency.p99 <= 160 }),
  },
  overhead: {
    text: 'at least 3,000 orders/s',
    judge: ({ requestsPerSec }) => ({
      figure: `${requestsPerSec.toLocaleString('en-US')} orders/s`,
      met: requestsPerSec >= 3000,
    }),
  },
  wide: {
    text: '10,000 orders in flight under 400 MB RSS',
    judge: ({ peakRssMb, peakOrdersInFlight }) => ({
      figure: `${peakOrdersInFlight?.toLocaleString('en-US') ?? '?'} in flight, peak RSS ${peakRssMb ?? '?'} MB`,
      met: (peakOrdersInFlight ?? 0) >= 10_000 && peakRssMb !== null && peakRssMb < 400,
    }),
  },
};

/**
 * The scenario's target with its figure: judged, or only shown (a smoke run's few seconds say nothing about
 * performance).
 */
export function targetOf(name: string, result: Measured, judged: boolean): ScenarioResult['target'] {
  const target = TARGETS[name];
  if (!target) return null;
  const { figure, met } = target.judge(result);
  return { text: target.text, figure, met: judged ? met : null };
}
