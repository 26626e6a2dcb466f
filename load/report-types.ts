/**
 * What a load run records, for the console table, results/*.json and the
 * HTML report alike. Latencies are in milliseconds.
 */

export interface LatencySummary {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Latency and throughput over the run, in fixed time bins. */
export interface Timeline {
  /** Bin width in seconds. */
  readonly binSec: number;
  /** Start of each bin, in seconds since the scenario started. */
  readonly t: number[];
  /** Responses per second in each bin. */
  readonly rps: number[];
  /** Latency percentiles of the responses that completed in each bin (null: no response in that bin). */
  readonly p50: Array<number | null>;
  readonly p99: Array<number | null>;
  readonly max: Array<number | null>;
}

/** Latency distribution: counts[i] responses took at most upperMs[i] (and more than upperMs[i - 1]). */
export interface Histogram {
  readonly upperMs: number[];
  readonly counts: number[];
}

export interface ScenarioResult {
  readonly name: string;
  readonly description: string;
  /** The server's environment for this scenario (empty when LOAD_URL was used). */
  readonly serverEnv: Readonly<Record<string, string>>;
  readonly connections: number;
  readonly durationSec: number;
  readonly requests: number;
  readonly requestsPerSec: number;
  readonly latency: LatencySummary;
  /** Responses per HTTP status, e.g. { "200": 1234 }. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Requests that got no response (connection errors, client time-outs). */
  readonly errors: number;
  /** What /healthz said once the scenario had drained. */
  readonly health: { readonly runningSteps: number; readonly threadsReplaced: number; readonly ordersInFlight: number };
  /** Peak resident memory of the server process (VmHWM), if the suite started it. */
  readonly peakRssMb: number | null;
  /** Most orders in flight at once, as /healthz reported them every half second. */
  readonly peakOrdersInFlight: number;
  /** The scenario's performance target, if it has one: a benchmark figure, not a gate. */
  readonly target: { readonly text: string; readonly figure: string; readonly met: boolean } | null;
  /** Empty when every gate held. */
  readonly problems: string[];
  readonly timeline: Timeline;
  readonly histogram: Histogram;
}

export interface LoadReport {
  readonly startedAt: string;
  readonly machine: { readonly cpus: number; readonly cpuModel: string; readonly node: string; readonly platform: string };
  readonly scenarios: ScenarioResult[];
}
