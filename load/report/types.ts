/**
 * What a load run records, for the console table, load/results/<run>/report.json,
 * the HTML report and the index of runs alike. Latencies are in milliseconds.
 */
import type { CpuByThread } from '../lib/proc.js';
import type { Spread } from '../lib/rounds.js';
import type { Commit, Machine } from '../lib/run-info.js';
import type { Histogram, LatencySummary, Timeline } from '../lib/stats.js';

/** Defined with the arithmetic that makes them (load/lib/stats.ts), recorded here. */
export type { Histogram, LatencySummary, Timeline };

type Series = Array<number | null>;

/**
 * What the server was doing while the load ran, sampled. Times are seconds
 * since the measured load began; samples past the scenario's duration show
 * the drain. Each group is there only if the server or the machine gave it.
 */
export interface ServerSeries {
  /** GET /healthz every 250 ms (this service only). */
  readonly health?: {
    readonly t: number[];
    readonly ordersInFlight: Series;
    readonly runningSteps: Series;
    readonly queued: Series;
    readonly couriersBusy: Series;
    /** /healthz `per_thread`, when the server reports it. */
    readonly perThread?: ReadonlyArray<{
      readonly threadId: number;
      readonly utilization: Series;
      readonly steps: Series;
    }>;
  };
  /** /proc every 250 ms, when the server's process is on this machine. */
  readonly process?: {
    readonly t: number[];
    /** CPU of every thread of the process since the last sample, in % of one core. */
    readonly cpuPct: Series;
    /**
     * CPU of its main thread alone, % of one core (this service only: the main thread of a Go process is just one of
     * its Ms).
     */
    readonly mainThreadCpuPct?: Series;
    readonly rssMb: Series;
  };
  /**
   * The main thread's event-loop delay over each 5 s, from GET /metrics:
   * prom-client's monitorEventLoopDelay histogram (less its 10 ms resolution),
   * which it resets at every scrape — so each point covers the interval since
   * the one before.
   */
  readonly eventLoop?: { readonly t: number[]; readonly p50Ms: Series; readonly p99Ms: Series; readonly maxMs: Series };
  /**
   * The order records kept (the `order_records` gauge) and the bytes they are charged in ORDER_RECORDS_MAX_MB, from
   * the same scrapes of GET /metrics: what a sustained load leaves behind.
   */
  readonly records?: { readonly t: number[]; readonly kept: Series; readonly mb: Series };
}

/**
 * A figure a scenario is read by; its headline is the one that stands for it in the index, the comparison and
 * comparisons between runs.
 */
export type HeadlineKind = 'throughput' | 'p50' | 'p99' | 'cpuPerOrder' | 'peakRss';

/** What drove the load: autocannon (Node, in the suite's own process) or wrk (C, a process of its own). */
export type GeneratorName = 'autocannon' | 'wrk';

/**
 * The CPU the server's process used while the measured load ran: utime +
 * stime of every thread of the process from /proc (10 ms ticks), over the
 * window from the measured load's start to its end.
 */
export interface ProcessCpu {
  /** CPU-µs per order answered in that window: what one order costs the process, whatever the generator left it. */
  readonly usPerOrder: number;
  /** Cores busy on average over the window (CPU seconds ÷ wall seconds). */
  readonly cores: number;
  /**
   * The same µs per order by kind of thread (load/lib/proc.ts, `cpuByThreadOf`); null where the threads could not be
   * read, absent in runs recorded before they were.
   */
  readonly byThread?: Readonly<Record<ThreadKind, number>> | null;
  /**
   * The threads' sleeps per order answered: voluntary context switches of every thread of the process over the window
   * (load/lib/proc.ts, `sleepsOf`), each a thread blocking and being woken again. Null where they could not be read;
   * absent in runs recorded before they were.
   */
  readonly sleepsPerOrder?: number | null;
}

/**
 * The kinds of thread a process's CPU is told by (load/lib/proc.ts): its main thread, Node's worker threads, V8's
 * helpers, the rest.
 */
export type ThreadKind = keyof CpuByThread;

/**
 * A warm-up: a fixed number of seconds, or windows of the same load until the process's CPU µs per order of two in a row
 * differed by less than a share (the compilers done), within a bound.
 */
export interface WarmUp {
  readonly seconds: number;
  /** CPU µs per order of each window, when warmed until settled; empty for a fixed warm-up. */
  readonly windowsUsPerOrder: readonly number[];
  /** Whether the last two windows agreed within the share; false if the bound came first, or the warm-up was fixed. */
  readonly settled: boolean;
}

export interface ScenarioResult {
  readonly name: string;
  readonly description: string;
  readonly headline: HeadlineKind;
  /** The server's environment for this scenario on top of its defaults; null when the suite did not start it. */
  readonly serverEnv: Readonly<Record<string, string>> | null;
  readonly connections: number;
  readonly durationSec: number;
  /** Absent in runs recorded before wrk could drive them: autocannon. */
  readonly generator?: GeneratorName;
  readonly requests: number;
  /** Requests sent, answered or not; null where the generator does not say, absent in runs recorded before. */
  readonly sent?: number | null;
  readonly requestsPerSec: number;
  readonly latency: LatencySummary;
  /** Responses per HTTP status, e.g. { "200": 1234 }. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Requests that got no response (connection errors, client time-outs). */
  readonly errors: number;
  /** What /healthz said once the scenario had drained (null: a server without /healthz). */
  readonly health: {
    readonly runningSteps: number;
    readonly threadsReplaced: number;
    readonly ordersInFlight: number;
  } | null;
  /**
   * Peak resident memory of the server process (VmHWM) if the process was started for this scenario alone, else null.
   */
  readonly peakRssMb: number | null;
  /** The most resident memory sampled every 250 ms while the load ran (null: the process was not found). */
  readonly sampledPeakRssMb: number | null;
  /** Most orders in flight at once, as /healthz reported them every 250 ms (null: no /healthz). */
  readonly peakOrdersInFlight: number | null;
  /**
   * Null when the server's process is not on this machine (or /proc is not there); absent in runs recorded before it
   * was measured.
   */
  readonly processCpu?: ProcessCpu | null;
  /**
   * How the server was warmed up before the measured load: the seconds it took and, when warmed until its CPU per order
   * settled, that figure window by window; absent in runs recorded before.
   */
  readonly warmUp?: WarmUp;
  /**
   * The scenario's performance target, if it has one: a benchmark figure, not a gate; `met` null when not judged (a
   * smoke run).
   */
  readonly target: { readonly text: string; readonly figure: string; readonly met: boolean | null } | null;
  /** Empty when every gate held. */
  readonly problems: string[];
  /** Null when the generator gives no time per response (wrk: a distribution at the end, nothing on the way). */
  readonly timeline: Timeline | null;
  readonly histogram: Histogram;
  readonly series: ServerSeries;
}

/**
 * The servers a comparison sets side by side: this service, the other server (the Go service, or any at --against) and
 * the lean build of this service's stack (load/lean/), the floor the stack allows.
 */
export type ComparedSide = 'this' | 'other' | 'lean';

/** One scenario run alternately against this service, the other server and the lean build. */
export interface ComparedScenario {
  readonly name: string;
  readonly description: string;
  readonly headline: HeadlineKind;
  /** Rounds in the order they ran: this[i], then other[i], then lean[i]. */
  readonly this: ScenarioResult[];
  readonly other: ScenarioResult[];
  /** Absent in runs recorded before the lean build joined the comparison. */
  readonly lean?: ScenarioResult[];
  /** The headline figure over the rounds, each side. */
  readonly thisFigure: Spread;
  readonly otherFigure: Spread;
  readonly leanFigure?: Spread;
  /** median(this) ÷ median(other). */
  readonly ratioOfMedians: number;
  /** this[i] ÷ other[i], round by round. */
  readonly pairRatios: Spread;
  /** median(this) ÷ median(lean), and this[i] ÷ lean[i] round by round. */
  readonly ratioToLean?: number;
  readonly pairRatiosToLean?: Spread;
  /** How peak RSS was read on every side: VmHWM of a process started for the round, or sampled VmRSS. */
  readonly rssMethod: 'high-water mark' | 'sampled';
  /**
   * Every figure side by side, the headline's among them: orders/s, p50,
   * p99, process CPU per order and peak RSS (absent in runs recorded before).
   */
  readonly figures?: readonly ComparedFigure[];
  /** Every side's responses of every round in the same bins (counts per side). */
  readonly histogram: {
    readonly upperMs: number[];
    readonly thisCounts: number[];
    readonly otherCounts: number[];
    readonly leanCounts?: number[];
  };
}

/** One figure over the rounds of every side of a comparison. */
export interface ComparedFigure {
  readonly kind: HeadlineKind;
  readonly thisFigure: Spread;
  readonly otherFigure: Spread;
  readonly leanFigure?: Spread;
  /** median(this) ÷ median(other). */
  readonly ratioOfMedians: number;
  /** this[i] ÷ other[i], round by round. */
  readonly pairRatios: Spread;
  /** median(this) ÷ median(lean), and this[i] ÷ lean[i] round by round. */
  readonly ratioToLean?: number;
  readonly pairRatiosToLean?: Spread;
}

export interface Comparison {
  /** The other server's URL. */
  readonly against: string;
  /** The command the suite started it with for each round, if any. */
  readonly againstCommand: string | null;
  readonly rounds: number;
  readonly scenarios: ComparedScenario[];
}

/** The figures of another run, side by side with this one's. */
export interface Baseline {
  /** Its directory under load/results/. */
  readonly run: string;
  readonly startedAt: string;
  readonly commit: string | null;
  readonly smoke: boolean;
  readonly scenarios: ReadonlyArray<
    Omit<ScenarioResult, 'timeline' | 'histogram' | 'series' | 'description' | 'serverEnv'>
  >;
  readonly comparison: ReadonlyArray<
    Pick<
      ComparedScenario,
      | 'name'
      | 'headline'
      | 'thisFigure'
      | 'otherFigure'
      | 'leanFigure'
      | 'ratioOfMedians'
      | 'pairRatios'
      | 'ratioToLean'
      | 'pairRatiosToLean'
    >
  > | null;
}

export interface LoadReport {
  readonly startedAt: string;
  readonly finishedAt: string;
  /** A smoke run (CI): short, gates applied, targets not judged. */
  readonly smoke: boolean;
  /** Absent in runs recorded before wrk could drive them: autocannon. */
  readonly generator?: GeneratorName;
  readonly machine: Machine;
  /** null outside a git checkout. */
  readonly commit: Commit | null;
  /** The machine's load average (1, 5, 15 min) when the run started and ended. */
  readonly loadAverage: { readonly start: readonly number[]; readonly end: readonly number[] };
  /** The scenarios run against this service alone (empty in a comparison run). */
  readonly scenarios: ScenarioResult[];
  readonly comparison: Comparison | null;
  readonly baseline: Baseline | null;
}
