/**
 * Watches a server while the load runs: GET /healthz every 250 ms (what is in
 * flight, running, queued, which couriers are busy, and per-thread figures
 * when the server gives them), GET /metrics every 5 s and once more when the
 * load stops (the main thread's event-loop delay, the order records kept), and /proc every 250 ms (CPU
 * of the process and of its main thread, resident memory). Whatever a server
 * does not offer is left out. A sample still pending when the next is due is
 * not doubled: under heavy load the samples thin out rather than pile up.
 */
import type { ServerSeries } from '../report/types.js';
import { cpuTimeOf, memoryOf, type CpuTime } from '../lib/proc.js';
import { gaugeSum, gaugeValue } from '../lib/prometheus-text.js';

const SAMPLE_MS = 250;
/**
 * /metrics every 20th sample (5 s): a scrape costs the server's main thread
 * about 13 ms of CPU in one piece (measured here; /healthz: about 1 ms) — a
 * stall that lands in the latency of the orders it delays. Every second it
 * would hold up 1% of the orders, enough to move a p99; every 5 s, 0.25%.
 */
const METRICS_EVERY = 20;
/**
 * prom-client watches the event loop with monitorEventLoopDelay at its
 * default resolution, 10 ms (the service does not change it), and that
 * histogram records the time between its timer's turns: 10 ms plus the
 * delay. The delay is the recorded time less 10 ms.
 */
const PROM_CLIENT_RESOLUTION_MS = 10;

export interface MonitorTarget {
  readonly url: URL;
  /** This service: its main thread's CPU is read from /proc too. */
  readonly isThisService: boolean;
  /**
   * Ask the server itself (/healthz, /metrics) while the load runs — this service only, and not in a comparison: a
   * /metrics scrape holds its main thread ~13 ms, a stall in the latency of one side only. Probed and its twin not,
   * one build measured fail-fast's p99 1.04–1.09× against itself.
   */
  readonly probes: boolean;
  readonly pid: number | null;
}

export interface ServerMonitor {
  /** The most orders in flight /healthz has reported so far (null: no /healthz). */
  peakOrdersInFlight(): number | null;
  /** The load has stopped: one last event-loop figure, covering the time since the one before; none after it. */
  loadStopped(): Promise<void>;
  stop(): ServerSeries;
}

interface PerThreadReport {
  readonly thread_id: number;
  readonly steps?: number;
  readonly utilization?: number;
}

interface HealthReport {
  readonly orders_in_flight: number;
  readonly running_steps: number;
  readonly queued: number;
  readonly couriers_busy: number;
  readonly per_thread?: readonly PerThreadReport[];
}

type Series = Array<number | null>;
const round = (value: number, places = 2): number => Number(value.toFixed(places));
const numberOrNull = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value) ? value : null;

export function startMonitor(target: MonitorTarget): ServerMonitor {
  const origin = performance.now();
  const seconds = (): number => round((performance.now() - origin) / 1000);

  const health = {
    t: [] as number[],
    ordersInFlight: [] as Series,
    runningSteps: [] as Series,
    queued: [] as Series,
    couriersBusy: [] as Series,
  };
  const perThread = new Map<number, { utilization: Series; steps: Series }>();
  const processSeries = {
    t: [] as number[],
    cpuPct: [] as Series,
    rssMb: [] as Series,
    ...(target.isThisService ? { mainThreadCpuPct: [] as Series } : {}),
  };
  const eventLoop = { t: [] as number[], p50Ms: [] as Series, p99Ms: [] as Series, maxMs: [] as Series };
  const records = { t: [] as number[], kept: [] as Series, mb: [] as Series };
  let peakInFlight: number | null = null;
  let healthPending = false;
  let metricsPending = false;
  let metricsOffered = target.probes;
  let metricsScrape: Promise<void> = Promise.resolve();
  let lastCpu: { at: number; cpu: CpuTime } | null = null;
  /** Set by stop(): an answer arriving later is dropped, not added to series already handed out. */
  let stopped = false;

  const sampleHealth = (): void => {
    if (healthPending) return;
    healthPending = true;
    fetch(new URL('/healthz', target.url))
      .then((response) => response.json() as Promise<HealthReport>)
      .then((report) => {
        if (stopped) return;
        const index = health.t.push(seconds()) - 1;
        health.ordersInFlight.push(numberOrNull(report.orders_in_flight));
        health.runningSteps.push(numberOrNull(report.running_steps));
        health.queued.push(numberOrNull(report.queued));
        health.couriersBusy.push(numberOrNull(report.couriers_busy));
        peakInFlight = Math.max(peakInFlight ?? 0, report.orders_in_flight);
        const threads = (Array.isArray(report.per_thread) ? report.per_thread : []) as ReadonlyArray<{
          thread_id: number;
          steps: unknown;
          utilization: unknown;
        }>;
        for (const thread of threads) {
          let series = perThread.get(thread.thread_id);
          if (!series) perThread.set(thread.thread_id, (series = { utilization: [], steps: [] }));
          // A thread that appears late (a replacement) has nothing before it.
          while (series.steps.length < index) {
            series.steps.push(null);
            series.utilization.push(null);
          }
          series.steps.push(numberOrNull(thread.steps));
          series.utilization.push(numberOrNull(thread.utilization));
        }
      })
      .catch(() => undefined) // a sample lost under load is a gap in the chart, nothing more
      .finally(() => (healthPending = false));
  };

  /** prom-client resets its event-loop histogram at every scrape: each scrape covers the time since the last. */
  const sampleMetrics = (record: boolean): void => {
    if (!metricsOffered || metricsPending) return;
    metricsPending = true;
    metricsScrape = fetch(new URL('/metrics', target.url))
      .then(async (response) => {
        if (!response.ok) {
          metricsOffered = false; // METRICS=off
          await response.body?.cancel();
          return;
        }
        const text = await response.text();
        if (!record || stopped) return;
        const ms = (name: string): number | null => {
          const value = gaugeValue(text, name);
          return value === null ? null : round(Math.max(0, value * 1000 - PROM_CLIENT_RESOLUTION_MS), 3);
        };
        eventLoop.t.push(seconds());
        eventLoop.p50Ms.push(ms('nodejs_eventloop_lag_p50_seconds'));
        eventLoop.p99Ms.push(ms('nodejs_eventloop_lag_p99_seconds'));
        eventLoop.maxMs.push(ms('nodejs_eventloop_lag_max_seconds'));
        const kept = gaugeValue(text, 'order_records');
        const bytes = gaugeSum(text, 'client_order_record_bytes');
        if (kept === null) return;
        records.t.push(eventLoop.t.at(-1)!);
        records.kept.push(kept);
        records.mb.push(bytes === null ? null : round(bytes / 2 ** 20, 1));
      })
      .catch(() => undefined)
      .finally(() => (metricsPending = false));
  };

  const sampleProcess = (): void => {
    if (target.pid === null) return;
    const cpu = cpuTimeOf(target.pid);
    const memory = memoryOf(target.pid);
    if (cpu === null || memory === null) return;
    const now = performance.now();
    if (lastCpu !== null) {
      const wallSec = (now - lastCpu.at) / 1000;
      processSeries.t.push(seconds());
      processSeries.cpuPct.push(round(((cpu.processSec - lastCpu.cpu.processSec) / wallSec) * 100, 1));
      processSeries.mainThreadCpuPct?.push(round(((cpu.mainThreadSec - lastCpu.cpu.mainThreadSec) / wallSec) * 100, 1));
      processSeries.rssMb.push(round(memory.rssMb, 1));
    }
    lastCpu = { at: now, cpu };
  };

  if (target.probes) sampleMetrics(false);
  sampleProcess();
  let ticks = 0;
  let loadOver = false;
  const timer = setInterval(() => {
    ticks++;
    if (target.probes) sampleHealth();
    if (ticks % METRICS_EVERY === 0 && !loadOver) sampleMetrics(true);
    sampleProcess();
  }, SAMPLE_MS);

  return {
    peakOrdersInFlight: () => peakInFlight,
    loadStopped: async () => {
      loadOver = true;
      await metricsScrape;
      sampleMetrics(true);
      await metricsScrape;
    },
    stop: () => {
      clearInterval(timer);
      stopped = true;
      const threads = [...perThread].sort(([a], [b]) => a - b);
      for (const [, series] of threads) {
        while (series.steps.length < health.t.length) {
          series.steps.push(null);
          series.utilization.push(null);
        }
      }
      return {
        ...(health.t.length > 0
          ? {
              health: {
                ...health,
                ...(threads.length > 0
                  ? { perThread: threads.map(([threadId, series]) => ({ threadId, ...series })) }
                  : {}),
              },
            }
          : {}),
        ...(processSeries.t.length > 0 ? { process: processSeries } : {}),
        ...(eventLoop.t.length > 0 ? { eventLoop } : {}),
        ...(records.t.length > 0 ? { records } : {}),
      };
    },
  };
}
