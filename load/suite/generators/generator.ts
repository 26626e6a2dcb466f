/**
 * A load generator as the suite drives it: a scenario's orders at a server
 * for a while, after a warm-up of the same load, and what came back. Two are
 * offered: autocannon, in the suite's own process (the default: nothing to
 * install, a time for every response), and wrk, a C program in a process of
 * its own that leaves much more of the two cores to the server (Debian's
 * `wrk`; a distribution at the end, nothing on the way). On a machine whose
 * cores the generator shares with the server, the figures depend on it:
 * every result says which drove it.
 */
import type { LatencySummary, Sample } from '../../lib/stats.js';
import type { GeneratorName } from '../../report/types.js';
import type { Scenario } from '../scenarios.js';

export interface Load {
  /** Where the orders go: the server's POST /order. */
  readonly url: URL;
  readonly scenario: Scenario;
  readonly connections: number;
  readonly durationSec: number;
  /** Seconds of the same load before the measured one, not recorded. */
  readonly warmUpSec: number;
  /** Unique to this drive: every order_id starts with it. */
  readonly tag: string;
}

export interface Generated {
  /** Responses in the measured load. */
  readonly responses: number;
  /**
   * Requests sent in the measured load, answered or not (those still unanswered when it stopped included); null
   * where the generator does not say (wrk counts what it completed).
   */
  readonly sent: number | null;
  /** Wall time of the measured load. */
  readonly elapsedMs: number;
  /** Responses per HTTP status in the measured load. */
  readonly statuses: ReadonlyMap<number, number>;
  /** Statuses other than the one each order must get, the warm-up's included. */
  readonly unexpected: ReadonlyMap<number, number>;
  /** Requests that got no response, by cause (an error code, "timeout"). */
  readonly noResponse: ReadonlyMap<string, number>;
  readonly latency: LatencySummary;
  /**
   * Latencies (ms) standing for the distribution, for histograms across
   * rounds: one per response (autocannon), or the distribution's quantiles
   * spread over the responses (wrk).
   */
  readonly latencies: number[];
  /** When each response came and how long it took; null when the generator does not say (wrk). */
  readonly samples: readonly Sample[] | null;
}

export interface Running {
  /**
   * Responses a second over the last `windowMs`, for the progress line; null when the generator does not say while it
   * runs.
   */
  recentRate(windowMs: number): number | null;
  readonly finished: Promise<Generated>;
}

export interface LoadGenerator {
  readonly name: GeneratorName;
  /** Throws, saying why, if it cannot drive this scenario here: checked before anything starts. */
  check(scenario: Scenario): void;
  /** Warm-up, then the measured load; `measuring` is called the moment the measured load begins. */
  start(load: Load, measuring: () => void): Running;
}

/** The count of each key, from a list of keys. */
export function tally<K>(counts: Map<K, number>, key: K, by = 1): void {
  counts.set(key, (counts.get(key) ?? 0) + by);
}
