/**
 * The order engine: the pipeline on its worker pool, without HTTP — the
 * shared memory (cancel cells, tracker, courier pool), the pool and its
 * registry of threads, the step runner, the remote services' gateways and
 * the background voider — built from the configuration and a store's books.
 * What the service runs (service.ts) and what the benchmarks run alone.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { MemoryLedger } from '../ledger/memory-ledger.js';
import type { PaymentLedger } from '../ledger/payment-ledger.js';
import { logThreadExit, stepLog } from '../observability/logging.js';
import type { ViewedDependency } from '../observability/thread-frame.js';
import type { PoolFigures } from '../observability/metrics.js';
import { ThreadView, type ThreadSnapshot } from '../observability/thread-view.js';
import { OrderPipeline, type CompensationFallback } from '../pipeline/order-pipeline.js';
import { modulesOf, type StepDefinition, type StepJournal, type StepRecorder } from '../pipeline/steps.js';
import { compiledModule } from '../paths.js';
import { CancelCellAllocator, CancelCells } from '../shared-memory/cancel-cells.js';
import { CLIENT_INDICES, SlotSemaphore } from '../shared-memory/slot-semaphore.js';
import { StepTracker } from '../shared-memory/step-tracker.js';
import { BackgroundVoider } from '../ledger/background-voider.js';
import { PaymentGateway } from '../threads/payment-gateway.js';
import { EffectGateway } from '../threads/effect-gateway.js';
import { REQUESTED_EFFECT } from '../threads/protocol.js';
import { MemoryServiceBooks } from '../ledger/memory-service-books.js';
import type { EffectCaller, ServiceBooks } from '../ledger/service-books.js';
import {
  PooledStepRunner,
  type PooledStepRunnerOptions,
  type Reclaimed,
  type StepLog,
} from '../threads/pooled-step-runner.js';
import { StepPool, type StepPoolOptions } from '../threads/step-pool.js';
import { TasksInFlight } from '../threads/tasks-in-flight.js';
import { scheduleOf } from '../threads/kernel-schedule.js';
import type { ThreadReadings } from '../threads/thread-verdict.js';
import { DEFAULT_STEPS } from './steps.js';
import { DEPENDENCIES, DEPENDENCY_NAMES, type Dependency, type DependencyName } from '../domain/dependencies.js';
import type { DependencyControl, DependencyState } from '../http/routes/dependencies-route.js';
import { DependencyOutages } from '../shared-memory/dependency-outages.js';
import { SharedLogLevel } from '../shared-memory/log-level.js';
import { DependencyBreakers } from '../resilience/dependency-breakers.js';
import type { BreakerState } from '../resilience/circuit-breaker.js';
import type { ClientBook } from '../clients/client-book.js';
import type { ViewedClient } from '../observability/thread-frame.js';
import { CpuTurns } from '../threads/cpu-turns.js';
import { capOf, NO_SHARERS, type Sharers } from '../fairness/fair-share.js';
import { DEFAULT_RANK } from '../fairness/tiers.js';
import { rankOf, TIERS } from '../domain/tier.js';
import { healthOf, poolFiguresOf, type EngineHealth } from './engine-figures.js';
import { clientFigures, createClientBook, OTHER_CLIENTS, viewedClients, type ClientSources } from './clients.js';

/** A run as begun, by an instance no one takes it over from (in memory, and the benchmarks). */
const asBegun = (): EffectCaller => ({ fence: 0, instance: undefined });

/** A step is run once more if its thread dies under it through no fault of its own. */
const MAX_STEP_ATTEMPTS = 2;
/**
 * Room in the courier waiter table beyond one waiter per order in flight (a
 * step runs again only once its lost attempt's entries are reclaimed, so one
 * each is the bound); a little more costs nothing.
 */
const COURIER_WAITER_SLACK = 64;

/** What the engine alone can tell of the service's health (the service adds its settings and its store). */

/** The order pipeline on its worker pool, without HTTP: what the service and the benchmarks run. */
export interface OrderEngine {
  readonly pipeline: OrderPipeline;
  /** The payment provider's end on the main thread. */
  readonly paymentGateway: PaymentGateway;
  /** The end of the services the other steps act on, on the main thread. */
  readonly effectGateway: EffectGateway;
  /** Voids of failed orders the main thread asks of the provider itself, until it answers. */
  readonly voider: BackgroundVoider;
  /** The courier pool in shared memory (handed to the durable mode, which makes it global). */
  readonly couriers: SlotSemaphore;
  health(): EngineHealth;
  /** A property, not a method: it is handed around unbound (to the metrics). */
  readonly poolFigures: () => PoolFigures;
  /** Tasks waiting in the pool's queue for a thread (what POOL_QUEUE_LIMIT bounds), read without a scan. */
  readonly poolQueued: () => number;
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
  /** The clients sharing the service, and what each holds and waits for (/metrics, the thread view). */
  readonly clients: ClientBook;
  /** The level the worker threads log at, changed at run time (each thread takes it at its next task). */
  readonly logLevel: SharedLogLevel;
  readonly clientFigures: () => ViewedClient[];
  close(): Promise<void>;
}

/** What the engine is told of the clients by the service around it. */
export interface EngineClients {
  readonly book: ClientBook;
  /** Orders in flight per client (counted at admission). */
  readonly ordersInFlightOf: (client: string) => number;
  /** What the records keep of a client's orders, in bytes; undefined where they are not kept in memory. */
  readonly recordBytesOf: (client: string) => number | undefined;
  /** Told who shares the service whenever that may have changed: the floors of the couriers and thread time. */
  readonly onSharers?: (listener: (sharers: Sharers) => void) => void;
}

export interface EngineOptions {
  readonly steps?: readonly StepDefinition[];
  /** The payment provider's books; in memory unless given. */
  readonly ledger?: PaymentLedger;
  /** The books of the services the other steps act on (the vendor's, the courier service's); in memory unless given. */
  readonly services?: ServiceBooks;
  /** Who a run's steps call their services as (the store's claim of the run); without: every run as begun. */
  readonly callerOf?: (run: number) => EffectCaller;
  /**
   * Whether the store's recovery voids a run whose void could not be asked
   * (the durable mode): then the main thread asks once and leaves the rest
   * to it, instead of asking again for as long as the process lives.
   */
  readonly recoveryVoidsInDoubt?: boolean;
  /** The clients (the service's); without, a book of the configured ones alone (the benchmarks). */
  readonly clients?: EngineClients;
  /** Told of each step as it ends, with its timings (the order's trace); without: no step is timed. */
  readonly recorder?: StepRecorder;
  /** Where each step's end is recorded, for a resume (the durable store's); without: nowhere. */
  readonly journal?: StepJournal;
}

export function createOrderEngine(
  config: Config,
  log: Logger,
  {
    steps = DEFAULT_STEPS,
    ledger = new MemoryLedger(),
    services = new MemoryServiceBooks(),
    callerOf = asBegun,
    recoveryVoidsInDoubt = false,
    clients,
    recorder,
    journal,
  }: EngineOptions = {},
): OrderEngine {
  const paymentGateway = new PaymentGateway(ledger, log, config.idempotencyTtlMs);
  const effectGateway = new EffectGateway(services, log);
  const voider = new BackgroundVoider(ledger, log, !recoveryVoidsInDoubt);
  const { cells, tracker, couriers } = sharedMemoryOf(config, steps.length);
  const book = clients?.book ?? createClientBook(config);
  const { cpuTurns, clientNamed } = shareBetweenClients(book, couriers, config.threads, clients?.onSharers);
  const clientSources = clientSourcesOf(book, couriers, cpuTurns, clients);
  // A canceled courier waiter is dropped by its thread, and passed over by the others, once the dispatchers are woken.
  const cellAllocator = new CancelCellAllocator(cells, () => couriers.wakeWaiters());
  const outages = DependencyOutages.create(DEPENDENCY_NAMES);
  const logLevel = new SharedLogLevel(config.logLevel);
  const breakerListeners: Array<(dependency: DependencyName, from: BreakerState, to: BreakerState) => void> = [];
  const breakers = breakersOf(config, breakerListeners);
  const dependencies = dependencyControl(outages, breakers);

  const replacedListeners: Array<(cause: 'terminated' | 'died') => void> = [];
  const tasksInFlight = new TasksInFlight(cells.capacity);
  const threadView: ThreadView = new ThreadView({
    cells,
    tracker,
    couriers,
    tasks: tasksInFlight,
    threads: () => pool.registry.liveThreads(),
    ordersInFlight: (): number => pipeline.ordersInFlight,
    threadsReplaced: () => pool.registry.replaced,
    dependencies: () => dependencies.states().map(viewedDependency),
    clients: () => viewedClients(clientSources),
    clientNamed,
  });
  const pool = stepPoolOf(config, steps, { cells, tracker, couriers, outages, logLevel }, recorder, {
    onThreadExit: (exit) => {
      logThreadExit(log, exit);
      if (exit.cause === 'closed') return;
      threadView.threadExited(exit);
      for (const listener of replacedListeners) listener(exit.cause);
    },
    ...receiversOf(paymentGateway, effectGateway),
    // A step's turn of thread time goes back once its thread has marked its CPU work over: looked at as tasks settle.
    onTaskSettled: () => cpuTurns.giveBackComputed(),
  });
  const runner = new PooledStepRunner(
    pool,
    cellAllocator,
    {
      graceMs: config.cancelGraceMs,
      threads: threadReadingsOf(tracker),
      maxAttempts: MAX_STEP_ATTEMPTS,
      settleRequests: settlerOf(paymentGateway, effectGateway),
      callerOf,
      tasksInFlight,
      clientOf: (client) => book.entryOf(client),
      cpuTurns,
      ...(recorder ? { recorder } : {}),
    },
    watchedStepLog(stepLog(log), threadView),
  );
  const pipeline = new OrderPipeline(steps, runner, {
    timeoutMs: config.orderTimeoutMs,
    compensationTimeoutMs: config.refundTimeoutMs,
    compensationFallbacks: { refund: refundByMainThread(voider) },
    ...(journal ? { journal } : {}),
  });

  return {
    pipeline,
    paymentGateway,
    effectGateway,
    voider,
    couriers,
    health: () => healthOf({ tracker, pool, cellAllocator, couriers, pipeline, threadView, breakers }),
    poolQueued: () => pool.queued,
    poolFigures: () => poolFiguresOf(pool),
    onThreadReplaced: (listener) => replacedListeners.push(listener),
    threadView: () => threadView.snapshot(),
    dependencies,
    breakers,
    onBreakerTransition: (listener) => breakerListeners.push(listener),
    clients: book,
    logLevel,
    clientFigures: () => clientFigures(clientSources),
    close: async () => {
      await pool.close();
      voider.close();
    },
  };
}

/** A thread's progress from the tracker, its schedule from the kernel by the id its shard keeps. */
function threadReadingsOf(tracker: StepTracker): ThreadReadings {
  return {
    progressOf: (threadId) => tracker.progressOf(threadId),
    scheduleOf: (threadId) => scheduleOf(tracker.kernelThreadIdOf(threadId)),
  };
}

/** Where a step's requests go as they arrive: to the gateway of the service each is for. */
function receiversOf(
  payment: PaymentGateway,
  effects: EffectGateway,
): Pick<StepPoolOptions<Reclaimed>, 'onLedgerRequest' | 'onEffectRequest'> {
  return {
    onLedgerRequest: (request) => payment.receive(request),
    onEffectRequest: (request) => effects.receive(request),
  };
}

/** A step's requests settled with the service they went to: its effect's, or the provider's. */
function settlerOf(payment: PaymentGateway, effects: EffectGateway): PooledStepRunnerOptions['settleRequests'] {
  return (requests, run, step, caller) =>
    requests & REQUESTED_EFFECT ? effects.settle(step, run, caller) : payment.settle(requests, run);
}

/** Where each client's figures come from: the book, the couriers' shared memory, the turns, and the service's counts. */
function clientSourcesOf(
  book: ClientBook,
  couriers: SlotSemaphore,
  cpuTurns: CpuTurns,
  clients: EngineClients | undefined,
): ClientSources {
  return {
    book,
    couriersHeld: () => couriers.heldPerClient(),
    couriersWaiting: () => couriers.waitingPerClient(),
    cpu: () => cpuTurns.figures(),
    ordersInFlightOf: clients?.ordersInFlightOf ?? (() => 0),
    recordBytesOf: clients?.recordBytesOf ?? (() => undefined),
  };
}

/** The shared memory of the main thread and the step threads: cancel cells, the step tracker, the courier pool. */
function sharedMemoryOf(
  config: Config,
  stepsPerOrder: number,
): { cells: CancelCells; tracker: StepTracker; couriers: SlotSemaphore } {
  // Every order in flight can have one courier step waiting, and no more.
  const couriers = SlotSemaphore.create(config.couriers, config.threads, config.maxInflight + COURIER_WAITER_SLACK);
  // The tiers keep headroom in the couriers as at admission: the best tier configured is in play from the start.
  const configured = [...config.clientTiers.values()].map(rankOf);
  couriers.setTierCeilings(
    TIERS.map((tier) => Math.round(config.tierCeilings[tier] * 1000)),
    Math.min(DEFAULT_RANK, ...configured),
  );
  return {
    // Room for every step of every order admitted: a cell per task in flight.
    cells: CancelCells.create(config.maxInflight * stepsPerOrder),
    tracker: StepTracker.create(config.threads),
    couriers,
  };
}

/**
 * The bulkheads of the engine's scarce resources: each client's weight and,
 * once more than one client exists, the cap, in the courier semaphore's
 * shared memory; the turns of thread time for computing steps — at most the
 * cap of THREADS (src/fairness/fair-share.ts's capOf) per client and THREADS
 * in all, once more than one client exists. Both keep the floors of the clients `onSharers` says are
 * active (src/fairness/fair-share.ts). And each index's name, for the thread
 * view.
 */
function shareBetweenClients(
  book: ClientBook,
  couriers: SlotSemaphore,
  threads: number,
  onSharers: EngineClients['onSharers'],
): { cpuTurns: CpuTurns; clientNamed: (index: number) => string | undefined } {
  const names = new Map<number, string>();
  let capped = false;
  book.onEntry((entry) => {
    // The overflow index is shared: it weighs 1, whoever is behind it.
    if (entry.index < CLIENT_INDICES - 1) couriers.setWeight(entry.index, entry.weight);
    names.set(entry.index, names.has(entry.index) ? OTHER_CLIENTS : entry.name);
    if (book.capped && !capped) {
      capped = true;
      couriers.setShare(Math.round(book.share * 1000));
    }
  });
  let sharers = NO_SHARERS;
  onSharers?.((now) => {
    sharers = now;
    // The overflow's clients are one index, active if any of them is.
    const active = new Set([...now.active.keys()].map((name) => book.entryOf(name).index));
    couriers.setFloors(active, now.newcomer, now.totalWeight);
  });
  const cpuTurns = new CpuTurns(() =>
    book.capped ? { perClient: capOf(threads, book.share), total: threads, sharers } : undefined,
  );
  return { cpuTurns, clientNamed: (index) => names.get(index) };
}

/** The admin's view of the dependencies: each one's outage, in shared memory, and its breaker. */
function dependencyControl(
  outages: DependencyOutages<DependencyName>,
  breakers: DependencyBreakers | undefined,
): DependencyControl {
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
    outage:
      outage.failureRatio > 0 || outage.latencyMs > 0
        ? { failure_ratio: outage.failureRatio, latency_ms: outage.latencyMs }
        : null,
    breaker: breaker
      ? {
          state: breaker.state,
          consecutive_failures: breaker.consecutiveFailures,
          open_for_ms: Math.max(0, Math.round(breaker.openForMs)),
        }
      : null,
  };
}

/**
 * A refund the pool could not get answered: the main thread voids the payment itself (with the order's test switch).
 */
function refundByMainThread(voider: BackgroundVoider): CompensationFallback {
  return {
    takeOver: async ({ order, key, runNumber: run }, trace) => {
      const answer = await voider.void({ order: key, run }, order.failCompensation, trace);
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

/** The breakers of the dependencies, telling `listeners` of each change; none with BREAKER_FAILURES=0. */
function breakersOf(
  config: Config,
  listeners: ReadonlyArray<(dependency: DependencyName, from: BreakerState, to: BreakerState) => void>,
): DependencyBreakers | undefined {
  if (config.breakerFailures <= 0) return undefined;
  return new DependencyBreakers({
    failures: config.breakerFailures,
    openMs: config.breakerOpenMs,
    onTransition: (dependency, from, to) => listeners.forEach((listener) => listener(dependency, from, to)),
  });
}

/** What every thread maps: the cells, the tracker, the courier slots, the dependencies' outages, the log level. */
interface ThreadMemory {
  readonly cells: CancelCells;
  readonly tracker: StepTracker;
  readonly couriers: SlotSemaphore;
  readonly outages: DependencyOutages<DependencyName>;
  readonly logLevel: SharedLogLevel;
}

/** The pool of step threads over `memory`, each thread with every step module loaded. */
function stepPoolOf(
  config: Config,
  steps: readonly StepDefinition[],
  { cells, tracker, couriers, outages, logLevel }: ThreadMemory,
  recorder: StepRecorder | undefined,
  told: Pick<StepPoolOptions<Reclaimed>, 'onThreadExit' | 'onLedgerRequest' | 'onEffectRequest' | 'onTaskSettled'>,
): StepPool<Reclaimed> {
  return new StepPool<Reclaimed>({
    threads: config.threads,
    tasksPerThread: config.threadMaxTasks,
    queueLimit: config.poolQueueLimit,
    workerFile: compiledModule('workers/step-worker'),
    // The young generation is not the pool's to cap: the process's flag decides it (src/runtime.ts).
    resourceLimits: { maxOldGenerationSizeMb: config.threadMaxHeapMb },
    workerSetup: {
      cancelCells: cells.buffer,
      stepTracker: tracker.buffer,
      courierSlots: couriers.buffer,
      logLevel: config.logLevel,
      logLevelWord: logLevel.buffer,
      stepModules: modulesOf(steps),
      dependencyOutages: outages.buffer,
      stepRetries: config.stepRetries,
      ...(recorder ? { stepTimings: true } : {}),
    },
    reclaim: (threadId) => ({ tracker: tracker.reclaim(threadId), courierSlots: couriers.releaseAllOwnedBy(threadId) }),
    executingStep: (threadId) => tracker.executingOn(threadId),
    ...told,
  });
}
