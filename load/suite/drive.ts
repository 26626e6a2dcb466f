/**
 * One scenario against one running server: warm it up, drive it with
 * autocannon while watching it, then hold it to the gates. This service is
 * held to all of them — every order gets the status it must, every request a
 * response, and once the load stops nothing is in flight or running and no
 * thread was replaced (its /healthz says). Another server (the Go service) is
 * held to statuses and responses only: it has no /healthz.
 */
import autocannon from 'autocannon';
import { memoryOf } from '../lib/proc.js';
import type { ScenarioResult } from '../report/types.js';
import type { Scenario } from './scenarios.js';
import { startMonitor } from './server-monitor.js';
import { histogram, summarize, timeline, type Sample } from '../lib/stats.js';
import { TARGETS } from './targets.js';

export interface LoadTarget {
  readonly url: URL;
  /** This service (with /healthz and /metrics), or another server held to statuses only. */
  readonly isThisService: boolean;
  /** The server's process on this machine, if known: its CPU and memory are sampled from /proc. */
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
  /** Judge the scenario's target; not in smoke runs, whose few seconds say nothing about performance. */
  readonly judgeTargets: boolean;
  /** Names the run in progress lines, e.g. "overhead, Go, round 2". */
  readonly label: string;
}

export interface Driven {
  readonly result: ScenarioResult;
  /** Every response's latency, for histograms across rounds. */
  readonly latencies: number[];
}

interface Health {
  readonly running_steps: number;
  readonly orders_in_flight: number;
  readonly threads_replaced: number;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function health(base: URL): Promise<Health> {
  const response = await fetch(new URL('/healthz', base));
  return (await response.json()) as Health;
}

/**
 * order_id is this service's idempotency key: every request of every drive
 * gets an id never used before — unique to this process's start and to the
 * drive — or it would be answered as a replay rather than run.
 */
const RUN_TAG = Date.now().toString(36);
let drives = 0;

/** Orders until every thread has compiled the step code. Delays of 1 ms, not 0: the Go service reads 0 as its default. */
async function warmUp(base: URL, tag: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => {
        const body = JSON.stringify({ order_id: `${tag}-warm-up-${round}-${i}`, amount: 1, delay_ms: { payment: 1, vendor: 1, courier: 1 } });
        return fetch(new URL('/order', base), { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.text());
      }),
    );
  }
}

/** The load generator hangs up on orders still running when it stops; this service must cancel them and come back to rest. */
async function gatesAfterLoad(base: URL, before: Health): Promise<{ after: Health; problems: string[] }> {
  const problems: string[] = [];
  let after = await health(base);
  const drainBy = performance.now() + 15_000;
  while (after.orders_in_flight > 0 && performance.now() < drainBy) {
    await pause(50);
    after = await health(base);
  }
  if (after.orders_in_flight > 0) problems.push(`${after.orders_in_flight} orders still in flight 15 s after the load stopped`);
  if (after.running_steps !== 0) problems.push(`tracker at ${after.running_steps} after the load, not 0`);
  const replaced = after.threads_replaced - before.threads_replaced;
  if (replaced !== 0) problems.push(`${replaced} worker thread(s) replaced`);
  return { after: { ...after, threads_replaced: replaced }, problems };
}

export async function driveScenario(scenario: Scenario, target: LoadTarget, settings: DriveSettings): Promise<Driven> {
  const base = target.url;
  const { durationSec, connections } = settings;
  const tag = `${RUN_TAG}-${++drives}`;
  await warmUp(base, tag);
  const before = target.isThisService ? await health(base) : null;
  const samples: Sample[] = [];
  const statuses = new Map<number, number>();
  const unexpected = new Map<number, number>();
  let next = 0;
  let started = performance.now();

  const warmUpSec = scenario.warmUpSec ?? 1;
  const instance = autocannon({
    // Known to autocannon, missing from its type declarations.
    ...(warmUpSec > 0 ? ({ warmup: { connections, duration: warmUpSec } } as object) : {}),
    url: new URL('/order', base).href,
    connections,
    duration: durationSec,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request, context) => {
          const n = next++;
          (context as { n?: number }).n = n;
          const order = scenario.order(n);
          return { ...request, body: JSON.stringify({ ...order, order_id: `${tag}-${String(order['order_id'])}` }) };
        },
        onResponse: (status, _body, context) => {
          const n = (context as { n?: number }).n ?? -1;
          if (status !== scenario.expectedStatus(n)) unexpected.set(status, (unexpected.get(status) ?? 0) + 1);
        },
      },
    ],
  }) as unknown as PromiseLike<autocannon.Result> & {
    on(event: 'start', listener: () => void): void;
    on(event: 'response', listener: (client: unknown, status: number, bytes: number, latency: number) => void): void;
    on(event: 'reqError', listener: (error: Error & { code?: string }) => void): void;
  };
  // Why requests got no response, by error code: a refused or reset connection is not a slow server.
  const errorCodes = new Map<string, number>();
  instance.on('reqError', (error) => {
    const code = error.code ?? error.message;
    errorCodes.set(code, (errorCodes.get(code) ?? 0) + 1);
  });
  let monitor: ReturnType<typeof startMonitor> | undefined;
  instance.on('start', () => {
    started = performance.now();
    monitor = startMonitor({ url: base, isThisService: target.isThisService, pid: target.pid });
  });
  instance.on('response', (_client: unknown, status: number, _bytes: number, latency: number) => {
    samples.push({ at: performance.now() - started, latency });
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  });
  const progress = setInterval(() => {
    const elapsedMs = performance.now() - started;
    const recent = samples.filter((sample) => sample.at > elapsedMs - 2000).length / 2;
    const inFlight = monitor?.peakOrdersInFlight();
    process.stderr.write(
      `  ${settings.label}: ${(elapsedMs / 1000).toFixed(0).padStart(3)}/${durationSec} s  ${Math.round(recent).toLocaleString('en')} req/s` +
        `${inFlight == null ? '' : `  ${inFlight.toLocaleString('en')} in flight at most`}\n`,
    );
  }, 2000);
  let result: autocannon.Result;
  try {
    result = await instance;
  } finally {
    clearInterval(progress);
  }
  const elapsedMs = performance.now() - started;
  await monitor?.loadStopped();

  const gates = before ? await gatesAfterLoad(base, before) : null;
  const series = monitor?.stop() ?? {};
  const problems = [...(gates?.problems ?? [])];
  if (unexpected.size > 0) problems.push(`unexpected status: ${[...unexpected].map(([status, count]) => `${status}×${count}`).join(' ')}`);
  const errors = result.errors + result.timeouts;
  if (errors > 0) {
    const codes = [...errorCodes].map(([code, count]) => `${code}×${count}`).join(' ');
    problems.push(`${errors} requests without a response (errors ${result.errors}, time-outs ${result.timeouts}${codes ? `: ${codes}` : ''})`);
  }
  if (problems.length > 0 && target.output) {
    // What the server said about it: its warnings and errors.
    const said = target.output().filter((line) => line.includes('"level":40') || line.includes('"level":50') || line.includes('"level":60'));
    if (said.length > 0)
      process.stderr.write(
        `  ${settings.label}: the server logged\n${said
          .slice(0, 20)
          .map((line) => `    ${line.slice(0, 400)}`)
          .join('\n')}\n`,
      );
  }

  const latencies = samples.map((sample) => sample.latency);
  const rssSamples = (series.process?.rssMb ?? []).filter((value): value is number => value !== null);
  const peakRss = target.freshProcess && target.pid !== null ? memoryOf(target.pid) : null;
  const measured: Omit<ScenarioResult, 'target'> = {
    name: scenario.name,
    description: scenario.description,
    headline: scenario.headline,
    serverEnv: target.serverEnv,
    connections,
    durationSec,
    requests: samples.length,
    requestsPerSec: Math.round((samples.length / elapsedMs) * 1000),
    latency: summarize(latencies),
    statuses: Object.fromEntries([...statuses].map(([status, count]) => [String(status), count])),
    errors,
    health: gates ? { runningSteps: gates.after.running_steps, threadsReplaced: gates.after.threads_replaced, ordersInFlight: gates.after.orders_in_flight } : null,
    peakRssMb: peakRss ? Math.round(peakRss.peakMb) : null,
    sampledPeakRssMb: rssSamples.length > 0 ? Math.round(Math.max(...rssSamples)) : null,
    peakOrdersInFlight: monitor?.peakOrdersInFlight() ?? null,
    problems,
    timeline: timeline(samples, elapsedMs, durationSec > 20 ? 1 : 0.5),
    histogram: histogram(latencies),
    series,
  };
  const judge = settings.judgeTargets ? TARGETS[scenario.name] : undefined;
  return { result: { ...measured, target: judge ? judge(measured) : null }, latencies };
}
