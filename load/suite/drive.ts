/**
 * One scenario against one running server: warm it up, drive it with the
 * load generator while watching it — its CPU time over the measured load
 * gives what an order costs the process — then hold it to the gates
 * (gates.ts).
 */
import {
  cpuByThreadOf,
  cpuPerOrderByThread,
  cpuTimeOf,
  memoryOf,
  sleepsOf,
  sleepsPerOrder,
  type CpuByThread,
} from '../lib/proc.js';
import { histogram, timeline } from '../lib/stats.js';
import type { ProcessCpu, ScenarioResult, WarmUp } from '../report/types.js';
import { answerProblems, gatesAfterLoad, health, warningsIn } from './gates.js';
import { tally, type Generated, type LoadGenerator } from './generators/generator.js';
import type { Scenario } from './scenarios.js';
import { startMonitor } from './server-monitor.js';
import { targetOf } from './targets.js';

export interface LoadTarget {
  readonly url: URL;
  /** This service (with /healthz and /metrics), or another server held to statuses only. */
  readonly isThisService: boolean;
  /** The server's process on this machine, if known: its CPU and memory are read from /proc. */
  readonly pid: number | null;
  /** Started for this scenario alone: then its memory high-water mark (VmHWM) is this scenario's peak. */
  readonly freshProcess: boolean;
  /** The environment it was started with on top of its defaults, to record; null if the suite did not start it. */
  readonly serverEnv: Readonly<Record<string, string>> | null;
  /** What the server wrote, to show when a gate fails. */
  readonly output?: () => readonly string[];
}

export interface DriveSettings {
  readonly durationSec: number;
  readonly connections: number;
  readonly generator: LoadGenerator;
  /**
   * The scenario's target judged, only shown (a smoke run), or left out (a comparison runs variants of the scenarios).
   */
  readonly target: 'judged' | 'shown' | 'none';
  /** Names the run in progress lines, e.g. "overhead, Go, round 2". */
  readonly label: string;
}

export interface Driven {
  readonly result: ScenarioResult;
  /** Latencies standing for the distribution, for histograms across rounds. */
  readonly latencies: number[];
}

/**
 * order_id is this service's idempotency key: every request of every drive
 * gets an id never used before — unique to this process's start and to the
 * drive — or it would be answered as a replay rather than run.
 */
const RUN_TAG = Date.now().toString(36);
let drives = 0;

/**
 * Orders until every thread has compiled the step code. Delays of 1 ms, not 0: the Go service reads 0 as its default.
 */
async function warmUp(base: URL, tag: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => {
        const body = JSON.stringify({
          order_id: `${tag}-warm-up-${round}-${i}`,
          amount: 1,
          delay_ms: { payment: 1, vendor: 1, courier: 1 },
        });
        return fetch(new URL('/order', base), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        }).then((r) => r.text());
      }),
    );
  }
}

const processCpuSec = (pid: number | null): number | null =>
  pid === null ? null : (cpuTimeOf(pid)?.processSec ?? null);

/** The process's CPU at one moment: in all, and by kind of thread; and its threads' sleeps so far. */
interface CpuReading {
  readonly processSec: number | null;
  readonly byThread: CpuByThread | null;
  readonly sleeps: number | null;
}

const cpuReading = (pid: number | null): CpuReading => ({
  processSec: processCpuSec(pid),
  byThread: pid === null ? null : cpuByThreadOf(pid),
  sleeps: pid === null ? null : sleepsOf(pid),
});

/** What the measured load cost the server's process, from its CPU seconds at the load's start and end. */
function processCpu(atStart: CpuReading | null, atEnd: CpuReading, generated: Generated): ProcessCpu | null {
  if (atStart?.processSec == null || atEnd.processSec === null || generated.responses === 0) return null;
  const seconds = atEnd.processSec - atStart.processSec;
  return {
    usPerOrder: Math.round((seconds * 1e6) / generated.responses),
    cores: Number((seconds / (generated.elapsedMs / 1000)).toFixed(2)),
    byThread:
      atStart.byThread && atEnd.byThread
        ? cpuPerOrderByThread(atStart.byThread, atEnd.byThread, seconds, generated.responses)
        : null,
    sleepsPerOrder: sleepsPerOrder(atStart.sleeps, atEnd.sleeps, generated.responses),
  };
}

/**
 * A warm-up until compilation has settled: windows of the scenario's load, each read for the process's CPU µs per
 * order, until two in a row differ by less than SETTLED_WITHIN (or than /proc's ticks can tell over a window's orders:
 * a light load's few orders), or SETTLE_BOUND_SEC have passed. What V8 compiles shows
 * nowhere but in the CPU an order costs while it compiles (on its helper threads and in the isolates themselves), and
 * counting compilations would need a flag the service does not run with; a fixed warm-up long enough for the slowest
 * target would cost every target that long in every round.
 */
const SETTLE_WINDOW_SEC = 5;
const SETTLED_WITHIN = 0.03;
const SETTLE_BOUND_SEC = 40;
/** Linux's clock tick, in which /proc counts CPU time. */
const TICK_SEC = 0.01;

interface Warmed {
  readonly warmUp: WarmUp;
  /** Wrong statuses and requests without an answer in the warm-up: an order answered wrongly is wrong whenever. */
  readonly unexpected: ReadonlyMap<number, number>;
  readonly noResponse: ReadonlyMap<string, number>;
}

async function warmUntilSettled(
  scenario: Scenario,
  target: LoadTarget,
  settings: DriveSettings,
  tag: string,
): Promise<Warmed> {
  const unexpected = new Map<number, number>();
  const noResponse = new Map<string, number>();
  const windows: number[] = [];
  const started = performance.now();
  let settled = false;
  while (!settled && performance.now() - started < SETTLE_BOUND_SEC * 1000) {
    const before = processCpuSec(target.pid);
    const load = {
      url: new URL('/order', target.url),
      scenario,
      connections: settings.connections,
      durationSec: SETTLE_WINDOW_SEC,
      warmUpSec: 0,
      tag: `${tag}-settle-${windows.length}`,
    };
    const window = await settings.generator.start(load, () => {}).finished;
    const after = processCpuSec(target.pid);
    for (const [status, count] of window.unexpected) tally(unexpected, status, count);
    for (const [cause, count] of window.noResponse) tally(noResponse, cause, count);
    if (before === null || after === null || window.responses === 0) break;
    windows.push(Math.round(((after - before) * 1e6) / window.responses));
    const [previous, last] = windows.slice(-2);
    // /proc counts CPU in ticks: a window's figure is known to two of them, spread over its orders.
    const resolution = (2 * TICK_SEC * 1e6) / window.responses;
    settled =
      previous !== undefined &&
      last !== undefined &&
      Math.abs(last - previous) < Math.max(SETTLED_WITHIN * previous, resolution);
    process.stderr.write(
      `  ${settings.label}: warming up, ${windows.map((us) => us.toLocaleString('en')).join(', ')} CPU µs per order\n`,
    );
  }
  const seconds = Math.round((performance.now() - started) / 1000);
  return { warmUp: { seconds, windowsUsPerOrder: windows, settled }, unexpected, noResponse };
}

export async function driveScenario(scenario: Scenario, target: LoadTarget, settings: DriveSettings): Promise<Driven> {
  const base = target.url;
  const { durationSec, connections, generator } = settings;
  const tag = `${RUN_TAG}-${++drives}`;
  await warmUp(base, tag);
  const before = target.isThisService ? await health(base) : null;
  const settling = scenario.warmUntilSettled === true && target.pid !== null;
  const warmed = settling ? await warmUntilSettled(scenario, target, settings, tag) : null;
  let monitor: ReturnType<typeof startMonitor> | undefined;
  let cpuAtStart: CpuReading | null = null;
  let measuringSince: number | undefined;
  const warmUpSec = warmed ? 0 : (scenario.warmUpSec ?? 1);
  const running = generator.start(
    { url: new URL('/order', base), scenario, connections, durationSec, warmUpSec, tag },
    () => {
      cpuAtStart = cpuReading(target.pid);
      measuringSince = performance.now();
      // A comparison (target 'none') probes neither side: the other server is not this service.
      monitor = startMonitor({
        url: base,
        isThisService: target.isThisService,
        probes: target.isThisService && settings.target !== 'none',
        pid: target.pid,
      });
    },
  );
  const progress = setInterval(() => {
    const rate = running.recentRate(2000);
    const inFlight = monitor?.peakOrdersInFlight();
    const line =
      measuringSince === undefined
        ? `warming up (${warmUpSec} s)`
        : `${((performance.now() - measuringSince) / 1000).toFixed(0).padStart(3)}/${durationSec} s` +
          `${rate === null ? '' : `  ${Math.round(rate).toLocaleString('en')} req/s`}` +
          `${inFlight == null ? '' : `  ${inFlight.toLocaleString('en')} in flight at most`}`;
    process.stderr.write(`  ${settings.label}: ${line}\n`);
  }, 2000);
  let generated: Generated;
  try {
    generated = await running.finished;
  } finally {
    clearInterval(progress);
  }
  if (warmed) {
    const unexpected = new Map(generated.unexpected);
    const noResponse = new Map(generated.noResponse);
    for (const [status, count] of warmed.unexpected) tally(unexpected, status, count);
    for (const [cause, count] of warmed.noResponse) tally(noResponse, cause, count);
    generated = { ...generated, unexpected, noResponse };
  }
  const cpu = processCpu(cpuAtStart, cpuReading(target.pid), generated);
  await monitor?.loadStopped();

  const gates = before ? await gatesAfterLoad(base, before) : null;
  const series = monitor?.stop() ?? {};
  const problems = [
    ...(gates?.problems ?? []),
    ...answerProblems(generated, scenario, connections, target.serverEnv, settings.target !== 'shown'),
  ];
  if (problems.length > 0 && target.output) {
    const said = warningsIn(target.output());
    if (said.length > 0)
      process.stderr.write(
        `  ${settings.label}: the server logged\n${said
          .slice(0, 20)
          .map((line) => `    ${line.slice(0, 400)}`)
          .join('\n')}\n`,
      );
  }

  const rssSamples = (series.process?.rssMb ?? []).filter((value): value is number => value !== null);
  const peakRss = target.freshProcess && target.pid !== null ? memoryOf(target.pid) : null;
  const measured: Omit<ScenarioResult, 'target'> = {
    name: scenario.name,
    description: scenario.description,
    headline: scenario.headline,
    serverEnv: target.serverEnv,
    connections,
    durationSec,
    generator: generator.name,
    requests: generated.responses,
    sent: generated.sent,
    requestsPerSec: Math.round((generated.responses / generated.elapsedMs) * 1000),
    latency: generated.latency,
    statuses: Object.fromEntries([...generated.statuses].map(([status, count]) => [String(status), count])),
    errors: [...generated.noResponse.values()].reduce((sum, count) => sum + count, 0),
    health: gates
      ? {
          runningSteps: gates.after.running_steps,
          threadsReplaced: gates.after.threads_replaced,
          ordersInFlight: gates.after.orders_in_flight,
        }
      : null,
    peakRssMb: peakRss ? Math.round(peakRss.peakMb) : null,
    sampledPeakRssMb: rssSamples.length > 0 ? Math.round(Math.max(...rssSamples)) : null,
    peakOrdersInFlight: monitor?.peakOrdersInFlight() ?? null,
    processCpu: cpu,
    warmUp: warmed?.warmUp ?? { seconds: warmUpSec, windowsUsPerOrder: [], settled: false },
    problems,
    timeline: generated.samples ? timeline(generated.samples, generated.elapsedMs, durationSec > 20 ? 1 : 0.5) : null,
    histogram: histogram(generated.latencies),
    series,
  };
  const targetResult =
    settings.target === 'none' ? null : targetOf(scenario.name, measured, settings.target === 'judged');
  return { result: { ...measured, target: targetResult }, latencies: generated.latencies };
}
