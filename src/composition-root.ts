/**
 * The composition root: the one place that knows every concrete piece —
 * which steps exist and where their code lives, the shared memory, the
 * pool, the pipeline, the HTTP server — and wires them together.
 */
import type { Logger } from 'pino';
import { SHUTDOWN_MARGIN_MS, windDownMs, type Config } from './config.js';
import type { HealthReport } from './http/api-schemas.js';
import { createApp } from './http/app.js';
import { openApiDocument } from './http/openapi.js';
import { HttpServer } from './http/server.js';
import { ThreadEvents } from './http/thread-events.js';
import { booksBytesOf, MemoryLedger } from './ledger/memory-ledger.js';
import type { PaymentLedger } from './ledger/payment-ledger.js';
import { createLogger, logBreakerTransition, logThreadExit, runEvents, stepLog } from './observability/logging.js';
import { NO_OBSERVER, ServiceMetrics, type PoolFigures } from './observability/metrics.js';
import { ThreadView, type ThreadSnapshot } from './observability/thread-view.js';
import { IdempotentOrders } from './orders/idempotent-orders.js';
import { MemoryOrderRecords } from './orders/memory-order-records.js';
import { orderStatusQuery } from './orders/order-status.js';
import { OrderPipeline, type CompensationFallback } from './pipeline/order-pipeline.js';
import { modulesOf, type StepDefinition } from './pipeline/steps.js';
import { CancelCellAllocator, CancelCells } from './shared-memory/cancel-cells.js';
import { ELSEWHERE, SlotSemaphore } from './shared-memory/slot-semaphore.js';
import { DurableStore } from './postgres/durable-store.js';
import type { OrderRecords } from './orders/order-records.js';
import { StepTracker } from './shared-memory/step-tracker.js';
import { BackgroundVoider } from './threads/background-voider.js';
import { AT_RISK_BYTES, LedgerGateway } from './threads/ledger-gateway.js';
import { PooledStepRunner, type Reclaimed, type StepLog } from './threads/pooled-step-runner.js';
import { StepPool } from './threads/step-pool.js';
import { TasksInFlight } from './threads/tasks-in-flight.js';
import { compiledModule } from './paths.js';
import { OPEN_MODE_CALLER } from './auth/caller.js';
import { KeyRing } from './auth/key-ring.js';
import type { Identify } from './http/authorization.js';
import { DEPENDENCIES, DEPENDENCY_NAMES, type Dependency, type DependencyName } from './domain/dependencies.js';
import { breakerJson, type DependencyControl, type DependencyState } from './http/dependencies-route.js';
import { DependencyOutages } from './shared-memory/dependency-outages.js';
import { DependencyBreakers } from './resilience/dependency-breakers.js';
import type { BreakerState } from './resilience/circuit-breaker.js';
import type { ViewedDependency } from './observability/thread-frame.js';

export const DEFAULT_STEPS: readonly StepDefinition[] = [
  {
    name: 'payment',
    module: compiledModule('workers/steps/payment').href,
    compensation: { name: 'refund', module: compiledModule('workers/steps/refund').href },
  },
  { name: 'vendor', module: compiledModule('workers/steps/vendor').href },
  { name: 'courier', module: compiledModule('workers/steps/courier').href },
];

/** A step is run once more if its thread dies under it through no fault of its own. */
const MAX_STEP_ATTEMPTS = 2;
/**
 * Room in the courier waiter table beyond one waiter per order in flight (a
 * step runs again only once its lost attempt's entries are reclaimed, so one
 * each is the bound); a little more costs nothing.
 */
const COURIER_WAITER_SLACK = 64;

export interface ServiceOptions {
  readonly config: Config;
  readonly logger?: Logger;
  /** The steps every order runs (Go's `[]order.Step`); tests inject misbehaving ones. */
  readonly steps?: readonly StepDefinition[];
}

export interface RunningService {
  readonly url: URL;
  health(): HealthReport;
  /**
   * Drain and stop: turn new work away, let orders in flight finish (cancel
   * them if they would outlive the shutdown deadline), close every
   * connection, then the worker pool.
   */
  shutdown(): Promise<void>;
}

/** What the engine alone can tell of the service's health (the service adds its settings and its store). */
export type EngineHealth = Omit<HealthReport, 'fault_injection' | 'access' | 'durable'>;

/** The order pipeline on its worker pool, without HTTP: what the service and the benchmarks run. */
export interface OrderEngine {
  readonly pipeline: OrderPipeline;
  /** The payment provider's end on the main thread. */
  readonly ledgerGateway: LedgerGateway;
  /** Voids of failed orders the main thread asks of the provider itself, until it answers. */
  readonly voider: BackgroundVoider;
  /** The courier pool in shared memory (handed to the durable mode, which makes it global). */
  readonly couriers: SlotSemaphore;
  health(): EngineHealth;
  /** A property, not a method: it is handed around unbound (to the metrics). */
  readonly poolFigures: () => PoolFigures;
  /** Called for every thread lost and replaced while the pool serves. */
  onThreadReplaced(listener: (cause: 'terminated' | 'died') => void): void;
  /** Which thread runs which step right now, and what each is doing (GET /threads). */
  threadView(): ThreadSnapshot;
  /** The dependencies' simulated outages (shared with every thread) and circuit breakers. */
  readonly dependencies: DependencyControl;
  /** Undefined with BREAKER_FAILURES=0. */
  readonly breakers: DependencyBreakers | undefined;
  /** Called for every change of a breaker's state. */
  onBreakerTransition(listener: (dependency: DependencyName, from: BreakerState, to: BreakerState) => void): void;
  close(): Promise<void>;
}

export interface EngineOptions {
  readonly steps?: readonly StepDefinition[];
  /** The payment provider's books; in memory unless given. */
  readonly ledger?: PaymentLedger;
  /**
   * Whether the store's recovery voids a run whose void could not be asked
   * (the durable mode): then the main thread asks once and leaves the rest
   * to it, instead of asking again for as long as the process lives.
   */
  readonly recoveryVoidsInDoubt?: boolean;
}

export function createOrderEngine(config: Config, log: Logger, { steps = DEFAULT_STEPS, ledger = new MemoryLedger(), recoveryVoidsInDoubt = false }: EngineOptions = {}): OrderEngine {
  const ledgerGateway = new LedgerGateway(ledger, log, config.idempotencyTtlMs);
  const voider = new BackgroundVoider(ledger, log, !recoveryVoidsInDoubt);
  // Room for every step of every order admitted: a cell per task in flight.
  const cells = CancelCells.create(config.maxInflight * steps.length);
  const tracker = StepTracker.create(config.threads);
  // Every order in flight can have one courier step waiting, and no more.
  const couriers = SlotSemaphore.create(config.couriers, config.threads, config.maxInflight + COURIER_WAITER_SLACK);
  // A canceled courier waiter may have been next in line: the others must not wait for its thread to notice.
  const cellAllocator = new CancelCellAllocator(cells, () => couriers.wakeIfSlotFree());
  const outages = DependencyOutages.create(DEPENDENCY_NAMES);
  const breakerListeners: Array<(dependency: DependencyName, from: BreakerState, to: BreakerState) => void> = [];
  const breakers =
    config.breakerFailures > 0
      ? new DependencyBreakers({
          failures: config.breakerFailures,
          openMs: config.breakerOpenMs,
          onTransition: (dependency, from, to) => breakerListeners.forEach((listener) => listener(dependency, from, to)),
        })
      : undefined;
  const dependencies = dependencyControl(outages, breakers);

  const replacedListeners: Array<(cause: 'terminated' | 'died') => void> = [];
  const tasksInFlight = new TasksInFlight();
  const threadView: ThreadView = new ThreadView({
    cells,
    tracker,
    couriers,
    tasks: tasksInFlight,
    threads: () => pool.registry.liveThreads(),
    ordersInFlight: (): number => pipeline.ordersInFlight,
    threadsReplaced: () => pool.registry.replaced,
    dependencies: () => dependencies.states().map(viewedDependency),
  });
  const pool = new StepPool<Reclaimed>({
    threads: config.threads,
    tasksPerThread: config.threadMaxTasks,
    queueLimit: config.poolQueueLimit,
    workerFile: compiledModule('workers/step-worker'),
    resourceLimits: { maxOldGenerationSizeMb: config.threadMaxHeapMb },
    workerSetup: {
      cancelCells: cells.buffer,
      stepTracker: tracker.buffer,
      courierSlots: couriers.buffer,
      logLevel: config.logLevel,
      stepModules: modulesOf(steps),
      dependencyOutages: outages.buffer,
      stepRetries: config.stepRetries,
    },
    reclaim: (threadId) => ({ tracker: tracker.reclaim(threadId), courierSlots: couriers.releaseAllOwnedBy(threadId) }),
    onThreadExit: (exit) => {
      logThreadExit(log, exit);
      if (exit.cause === 'closed') return;
      threadView.threadExited(exit);
      for (const listener of replacedListeners) listener(exit.cause);
    },
    onLedgerRequest: (request) => ledgerGateway.receive(request),
  });
  const runner = new PooledStepRunner(
    pool,
    cellAllocator,
    {
      graceMs: config.cancelGraceMs,
      threadProgress: (threadId) => tracker.progressOf(threadId),
      maxAttempts: MAX_STEP_ATTEMPTS,
      settleRequests: (requests, run) => ledgerGateway.settle(requests, run),
      tasksInFlight,
    },
    watchedStepLog(stepLog(log), threadView),
  );
  const pipeline = new OrderPipeline(steps, runner, {
    timeoutMs: config.orderTimeoutMs,
    compensationTimeoutMs: config.refundTimeoutMs,
    compensationFallbacks: { refund: refundByMainThread(voider) },
  });

  return {
    pipeline,
    ledgerGateway,
    voider,
    couriers,
    health: () => ({
      running_steps: tracker.running(),
      threads: pool.threadCount,
      queued: cellAllocator.countNotStarted(),
      // Slots lent to other instances (the durable mode) are held, but by no courier of ours.
      couriers_busy: couriers.busy() - couriers.heldBy(ELSEWHERE),
      couriers: couriers.size,
      orders_in_flight: pipeline.ordersInFlight,
      threads_replaced: pool.registry.replaced,
      per_thread: threadView.perThread(),
      ...(breakers ? { breakers: Object.fromEntries(breakers.readings().map((reading) => [reading.dependency, breakerJson(reading)])) as EngineHealth['breakers'] } : {}),
    }),
    poolFigures: () => {
      const { stats } = pool;
      // Each of these makes Piscina summarize a histogram (about 1 ms): computed only when read.
      return {
        completed: stats.completed,
        get utilization() {
          return stats.utilization;
        },
        get runTime() {
          return stats.histogram.runTime;
        },
        get waitTime() {
          return stats.histogram.waitTime;
        },
      };
    },
    onThreadReplaced: (listener) => replacedListeners.push(listener),
    threadView: () => threadView.snapshot(),
    dependencies,
    breakers,
    onBreakerTransition: (listener) => breakerListeners.push(listener),
    close: async () => {
      await pool.close();
      voider.close();
    },
  };
}

/** The admin's view of the dependencies: each one's outage, in shared memory, and its breaker. */
function dependencyControl(outages: DependencyOutages<DependencyName>, breakers: DependencyBreakers | undefined): DependencyControl {
  const stateOf = (dependency: Dependency, readings = breakers?.readings()): DependencyState => ({
    dependency,
    outage: outages.outageOf(dependency.name),
    refusedCalls: outages.refusedCalls(dependency.name),
    breaker: readings?.find((reading) => reading.dependency === dependency.name),
  });
  return {
    states: () => {
      const readings = breakers?.readings();
      return DEPENDENCIES.map((dependency) => stateOf(dependency, readings));
    },
    switchOutage: (dependency, outage) => {
      outages.set(dependency.name, outage);
      return stateOf(dependency);
    },
  };
}

function viewedDependency({ dependency, outage, breaker }: DependencyState): ViewedDependency {
  return {
    name: dependency.name,
    title: dependency.title,
    outage: outage.failureRatio > 0 || outage.latencyMs > 0 ? { failure_ratio: outage.failureRatio, latency_ms: outage.latencyMs } : null,
    breaker: breaker ? { state: breaker.state, consecutive_failures: breaker.consecutiveFailures, open_for_ms: Math.max(0, Math.round(breaker.openForMs)) } : null,
  };
}

/** A refund the pool could not get answered: the main thread voids the payment itself (with the order's test switch). */
function refundByMainThread(voider: BackgroundVoider): CompensationFallback {
  return {
    takeOver: async ({ order, run }) => {
      const answer = await voider.void({ orderId: order.orderId, run }, order.failCompensation);
      return answer === 'pending' ? 'pending' : answer === 'refused' ? 'refused' : 'applied';
    },
  };
}

/** The step log, and the thread view's running list of steps lost with their threads. */
function watchedStepLog(log: StepLog, view: ThreadView): StepLog {
  return {
    ...log,
    threadLost: (event) => {
      log.threadLost(event);
      view.stepLostThread(event);
    },
  };
}

export async function startService({ config, logger, steps = DEFAULT_STEPS }: ServiceOptions): Promise<RunningService> {
  const log = logger ?? createLogger(config.logLevel, { buffered: config.logBuffer });
  // DATABASE_URL: the records, the provider's books and the courier pool in Postgres, shared by every instance.
  const durable = config.durable ? await DurableStore.open({ ...config.durable, replayMs: config.idempotencyTtlMs, couriers: config.couriers }, log) : undefined;
  let engine: OrderEngine;
  // What the gateway keeps of an order goes with its record (the engine is built by the time any record goes).
  const { ledger, records } = durable ?? inMemory(config, (orderId) => engine.ledgerGateway.forget(orderId));
  try {
    engine = createOrderEngine({ ...config, couriers: durable?.couriers ?? config.couriers }, log, { steps, ledger, recoveryVoidsInDoubt: durable !== undefined });
    durable?.shareCouriers(engine.couriers);
  } catch (error) {
    await durable?.close();
    throw error;
  }
  const { pipeline, ledgerGateway, voider } = engine;
  const orders = new IdempotentOrders(
    pipeline,
    records,
    runEvents(log, ({ order, run }, result) => void ledgerGateway.runEnded({ orderId: order.orderId, run }, result.failure !== undefined)),
  );
  // An instance that gave up its lease must not go on: what it runs is someone else's to recover.
  durable?.onLost(() => orders.cancelAll('interrupted'));
  const health = (): HealthReport => ({
    ...engine.health(),
    orders_in_flight: orders.runsInFlight,
    fault_injection: config.faultInjection,
    access: config.access.mode,
    ...(durable ? { durable: durable.health() } : {}),
  });
  const { breakers } = engine;
  const metrics = config.metrics
    ? new ServiceMetrics(
        health,
        engine.poolFigures,
        {
          records: () => records.size(),
          ledger: () => ledger.counts(),
          moneyAtRisk: () => ledgerGateway.moneyAtRisk(),
          voids: () => ({ pending: voider.size, failedAttempts: voider.failedAttempts }),
        },
        () => breakers?.readings() ?? [],
      )
    : undefined;
  if (metrics) engine.onThreadReplaced((cause) => metrics.threadReplaced(cause));
  engine.onBreakerTransition((dependency, from, to) => {
    logBreakerTransition(log, dependency, from, to, config.breakerOpenMs);
    metrics?.breakerMoved(dependency, to);
  });
  if (metrics) durable?.registerMetrics(metrics.registry);
  const threadEvents = new ThreadEvents(() => engine.threadView(), log);

  let servedDocument: ReturnType<typeof openApiDocument> | undefined;
  const server: HttpServer = new HttpServer(
    createApp({
      orders,
      orderStatus: orderStatusQuery(records, ledger),
      faultInjection: config.faultInjection,
      // Counted by the desk from admission on, so that nothing awaited between admission and the run lets more in.
      capacity: () => ({ ordersInFlight: orders.runsInFlight, maxInflight: config.maxInflight }),
      recordsFull: () => records.isFull(),
      health,
      ...(durable ? { storeUnavailable: () => durable.unavailable() } : {}),
      draining: () => server.draining,
      overConnectionLimit: (socket) => server.isBeyondLimit(socket),
      log,
      observer: metrics ?? NO_OBSERVER,
      metrics: metrics ? () => metrics.scrape() : undefined,
      // Served only once listening: it names the address the server listens on.
      openapi: () => (servedDocument ??= openApiDocument({ serverUrl: url.origin })),
      threadEvents,
      identify: config.access.mode === 'open' ? { open: OPEN_MODE_CALLER } : keyRing(config.access),
      allowedHosts: config.allowedHosts,
      ...(breakers ? { dependencies: () => breakers.admit() } : {}),
      dependencyControl: engine.dependencies,
    }),
    { ...config, hardLimit: config.connectionHardLimit },
    log,
  );
  let url: URL;
  try {
    await durable?.start();
    url = await server.listen(config.host, config.port);
  } catch (error) {
    await engine.close();
    await durable?.close();
    throw error;
  }

  let stopping: Promise<void> | undefined;
  const shutdown = async (): Promise<void> => {
    const deadline = performance.now() + config.shutdownTimeoutMs;
    // From here on no new run is admitted, whenever its body finishes arriving.
    server.startDraining();
    // An open page's stream would otherwise hold its connection, and the drain, open.
    threadEvents.close();
    const idle = orders.whenIdle();
    // Cancel what is left early enough for it to stop and void its payments
    // before the deadline (the configuration guarantees the time exists).
    const cancelBy = Math.max(0, config.shutdownTimeoutMs - windDownMs(config) - SHUTDOWN_MARGIN_MS);
    if (!(await settlesWithin(idle, cancelBy))) {
      log.warn({ orders_in_flight: orders.runsInFlight }, 'shutdown deadline near: canceling the orders still in flight');
      orders.cancelAll('shutting_down');
      // Every run, its refunds included, ends before the pool closes: none is cut off.
      await idle;
    }
    await server.whenClosed(Math.max(0, deadline - performance.now() - SHUTDOWN_MARGIN_MS));
    await engine.close();
    await durable?.close();
  };

  return {
    url,
    health,
    shutdown: () => (stopping ??= shutdown()),
  };
}

/** Who each configured key is. */
function keyRing(access: Extract<Config['access'], { mode: 'keys' }>): Identify {
  const ring = new KeyRing(access);
  return { callerOf: (key) => ring.callerOf(key) };
}

/**
 * The default: records and the provider's books in this process's memory,
 * bounded together — the books of an order, and its money at risk, are kept
 * exactly as long as its record, and their bytes count in its bound.
 * `forgotten`: told of each record that goes, for what else is kept of it.
 */
function inMemory(config: Config, forgotten: (orderId: string) => void): { ledger: PaymentLedger; records: OrderRecords } {
  const ledger = new MemoryLedger();
  const records = new MemoryOrderRecords(config.idempotencyTtlMs, config.orderRecordsMaxBytes, {
    onForget: (orderId) => {
      ledger.forget(orderId);
      forgotten(orderId);
    },
    // Money stays at risk only for an order that ended compensation_failed; a running one may yet.
    alongside: (record) => booksBytesOf(record.runs) + (record.state === 'running' || record.outcome?.kind === 'compensation_failed' ? AT_RISK_BYTES : 0),
  });
  return { ledger, records };
}

async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([promise.then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
