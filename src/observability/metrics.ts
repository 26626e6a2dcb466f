/**
 * Prometheus metrics (prom-client): what the orders did, read as they are
 * answered, and what is running, read from shared memory at scrape time.
 * Each worker thread would have a registry of its own, so nothing is
 * recorded inside the threads: every figure here comes from the main thread
 * or from the shared memory the threads write to. One module per area under
 * metrics/ (orders, money, threads, dependencies, clients); this one puts
 * them in one registry and serves its exposition.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Tier } from '../domain/tier.js';
import { buildInfo } from '../version.js';
import { registerClientMetrics } from './metrics/client-metrics.js';
import { DependencyMetrics, type BreakerFigure, type BreakerStateName } from './metrics/dependency-metrics.js';
import { registerMoneyMetrics, type MoneyFigures } from './metrics/money-metrics.js';
import { OrderMetrics, type AnsweredOrder, type OrderObserver } from './metrics/order-metrics.js';
import { ThreadMetrics, type PoolFigures, type RunningState } from './metrics/thread-metrics.js';
import type { ViewedClient } from './thread-frame.js';

export type { BreakerFigure } from './metrics/dependency-metrics.js';
export type { MoneyFigures } from './metrics/money-metrics.js';
export { NO_OBSERVER, type AnsweredOrder, type OrderObserver } from './metrics/order-metrics.js';
export type { PoolFigures, RunningState } from './metrics/thread-metrics.js';

/**
 * Scrapes within this long of a collection get its exposition: any number
 * of scrapers at once cost one collection per period, not one each (a
 * collection takes the main thread milliseconds, and scrapers in a loop would
 * otherwise keep it busy and the orders waiting; see the README). Prometheus
 * scrapes every 15 s or so: a value 200 ms old is as good as a fresh one.
 */
export const EXPOSITION_REUSE_MS = 200;

export class ServiceMetrics implements OrderObserver {
  readonly registry = new Registry();
  private readonly orders: OrderMetrics;
  private readonly threads: ThreadMetrics;
  private readonly dependencies: DependencyMetrics;
  private exposition: { readonly at: number; readonly body: Promise<string> } | undefined;

  /**
   * `breakers`: each dependency's breaker, read at scrape time (none with
   * BREAKER_FAILURES=0); `clients`: what each client holds and was refused
   * (the bulkheads), read at scrape time; `logLinesDropped`: log lines stdout's reader did not take.
   */
  constructor(
    health: () => RunningState,
    pool: () => PoolFigures,
    money: MoneyFigures,
    breakers: () => readonly BreakerFigure[] = () => [],
    clients: () => readonly ViewedClient[] = () => [],
    logLinesDropped: () => number = () => 0,
  ) {
    const registers = [this.registry];
    // The event loop's delay histogram samples every 100 ms, not prom-client's 10: a wake of an idle main thread costs
    // it tens of microseconds here, a hundred a second was an idle service's second largest cost, and what is watched
    // (nodejs_eventloop_lag_seconds, the runbook's and the dashboard's) is measured at each scrape, not by this.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
    const build = buildInfo();
    new Gauge({
      name: 'build_info',
      help: 'Always 1; its labels say what build runs: version, commit (empty when not known) and Node version.',
      labelNames: ['version', 'commit', 'node'],
      registers,
    }).set({ version: build.version, commit: build.commit ?? '', node: build.node }, 1);
    this.orders = new OrderMetrics(registers);
    registerMoneyMetrics(registers, money);
    this.dependencies = new DependencyMetrics(registers, breakers);
    registerClientMetrics(registers, clients);
    let logLinesSeen = 0;
    new Counter({
      name: 'log_lines_dropped_total',
      help: "Log lines not written because stdout's reader had gone or was not reading (the pipe full): never waited for.",
      registers,
      collect() {
        const now = logLinesDropped();
        this.inc(now - logLinesSeen);
        logLinesSeen = now;
      },
    });
    this.threads = new ThreadMetrics(registers, health, pool);
  }

  orderAnswered(order: AnsweredOrder): void {
    this.orders.orderAnswered(order);
  }

  orderShed(tier: Tier): void {
    this.orders.orderShed(tier);
  }

  orderAdmitted(tier: Tier): void {
    this.orders.orderAdmitted(tier);
  }

  breakerMoved(dependency: string, to: BreakerStateName): void {
    this.dependencies.breakerMoved(dependency, to);
  }

  threadReplaced(cause: 'terminated' | 'died'): void {
    this.threads.threadReplaced(cause);
  }

  /** The exposition, in Prometheus text format: collected afresh at most every EXPOSITION_REUSE_MS. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    const now = performance.now();
    if (!this.exposition || now - this.exposition.at >= EXPOSITION_REUSE_MS) {
      const body = this.registry.metrics();
      this.exposition = { at: now, body };
      // A failed collection is not served again.
      body.catch(() => {
        if (this.exposition?.body === body) this.exposition = undefined;
      });
    }
    return { contentType: this.registry.contentType, body: await this.exposition.body };
  }
}
