/**
 * The service: a store, the engine on it, the order desk, the HTTP server,
 * and their lifecycle — started in order (the store opened, the engine
 * built on its books and courier pool, the server listening last) and
 * stopped in reverse by a drain that lets every order in flight end and
 * void its payments before anything closes.
 */
import { randomBytes } from 'node:crypto';
import { randomUuid } from '../random-ids.js';
import type { Logger } from 'pino';
import { OPEN_MODE_CALLER } from '../auth/caller.js';
import { KeyRing } from '../auth/key-ring.js';
import { reloadKeysOnChange } from './key-reload.js';
import { UnauthenticatedMeter } from '../http/unauthenticated-meter.js';
import { anyClientRateLimit, clientRateLimitOf, SHUTDOWN_MARGIN_MS, windDownMs, type Config } from '../config.js';
import cluster from 'node:cluster';
import { ClientShares } from '../orders/client-shares.js';
import { ClientRateLimits } from '../http/client-rate-limits.js';
import type { ClientBook } from '../clients/client-book.js';
import { createClientBook } from './clients.js';
import type { HealthReport } from '../http/api-schemas.js';
import { messageClassesOf } from '../http/express-messages.js';
import { createApp, type AppDependencies } from '../http/app.js';
import { openApiDocument } from '../http/openapi.js';
import { HttpServer } from '../http/server.js';
import { ThreadEvents } from '../http/thread-events.js';
import {
  audit,
  createLogger,
  droppedLogLines,
  logBreakerTransition,
  runEvents,
  unraisedAlarm,
} from '../observability/logging.js';
import { NO_OBSERVER, ServiceMetrics } from '../observability/metrics.js';
import { OrderDesk } from '../orders/order-desk.js';
import { orderStatusQuery } from '../orders/order-status.js';
import type { StepDefinition } from '../pipeline/steps.js';
import { createOrderEngine, type OrderEngine } from './engine.js';
import { DEFAULT_STEPS } from './steps.js';
import { openStore } from './store.js';
import { createTracing } from '../tracing/tracing.js';
import { DEFAULT_TIER } from '../domain/tier.js';
import { AdmissionLine } from '../fairness/admission-line.js';
import { TierHeadroom } from '../fairness/tier-headroom.js';
import { TIER_AGING_MS } from '../fairness/tiers.js';
import { LoopLateness } from './loop-lateness.js';
import { createEvents } from './events.js';
import { FeedCursors } from '../events/feed-cursor.js';
import { ServiceWarmUp, warmUpCaller } from './warm-up.js';
import type { WarmUpFigures } from '../warm-up/warm-up-orders.js';

export interface ServiceOptions {
  readonly config: Config;
  readonly logger?: Logger;
  /** The steps every order runs (Go's `[]order.Step`); tests inject misbehaving ones. */
  readonly steps?: readonly StepDefinition[];
}

export interface RunningService {
  readonly url: URL;
  /** What the warm-up before listening did (WARM_UP_MS); absent if none ran. */
  readonly warmedUp?: WarmUpFigures;
  health(): HealthReport;
  /**
   * Drain and stop: say not ready and serve on for DRAIN_DELAY_MS, then turn new work away, let orders in flight finish (cancel
   * them if they would outlive the shutdown deadline), close every
   * connection, then the worker pool.
   */
  shutdown(): Promise<void>;
  /** Read the key files again (SIGHUP), if keys come from files. */
  reloadKeys(): void;
}

export async function startService({ config, logger, steps = DEFAULT_STEPS }: ServiceOptions): Promise<RunningService> {
  const log = logger ?? createLogger(config.logLevel, { buffered: config.logBuffer });
  const tracing = await createTracing(config.tracing);
  const store = await openStore(config, log, tracing.statements, tracing.orderTraceOf);
  // The bulkheads: who shares the service, and each client's share of what is scarce.
  const clients = createClientBook(config);
  const shares = new ClientShares({
    maxInflight: config.maxInflight,
    recordsMaxBytes: config.orderRecordsMaxBytes,
    records: store.records,
    clients,
  });
  const warming = config.warmUpMs > 0 ? new ServiceWarmUp(config, store.ledger) : undefined;
  let engine: OrderEngine;
  try {
    engine = createOrderEngine({ ...config, couriers: store.couriers }, log, {
      steps,
      ledger: warming?.ledger ?? store.ledger,
      recoveryVoidsInDoubt: store.voidsRunsInDoubt,
      clients: {
        book: clients,
        ordersInFlightOf: (client) => shares.inFlightOf(client),
        recordBytesOf: (client) => store.records.bytesOf(client),
        onSharers: (listener) => shares.onSharers(listener),
      },
      ...(tracing.steps ? { recorder: tracing.steps } : {}),
      ...(store.journal ? { journal: store.journal } : {}),
    });
  } catch (error) {
    await store.close();
    await tracing.close();
    throw error;
  }
  const { records, ledger } = store;
  const { pipeline, paymentGateway, voider } = engine;
  const orders = new OrderDesk(
    pipeline,
    records,
    runEvents(
      log,
      ({ key, runNumber: run }, result) =>
        void paymentGateway.runEnded({ order: key, run }, result.failure !== undefined),
    ),
  );
  // An instance that gave up its lease must not go on: what it runs is someone else's to recover.
  store.onLost(() => orders.cancelAll('interrupted'));
  // Before the first recovery pass (store.start): a lost instance's alarm may be waiting for it.
  store.onUnraisedAlarm(unraisedAlarm(log));
  // A cancel marked on another instance reaches the steps of the run here through the run's own stop.
  store.onCancelRequested((key) => orders.cancelHere(key));
  // Before the first recovery pass too: a lost instance's run taken over is run on here, after its recorded steps.
  store.onResumable((resumption) => orders.resume(resumption, { requestId: randomUuid() }));
  const health = (): HealthReport => {
    const shared = store.sharedHealth();
    return {
      ...engine.health(),
      orders_in_flight: orders.runsInFlight,
      fault_injection: config.faultInjection,
      access: config.access.mode,
      ...(shared ? { durable: shared } : {}),
    };
  };
  const { breakers } = engine;
  const metrics = config.metrics
    ? new ServiceMetrics(
        health,
        engine.poolFigures,
        {
          records: () => records.size(),
          ledger: () => ledger.counts(),
          moneyAtRisk: () => paymentGateway.moneyAtRisk(),
          voids: () => ({ pending: voider.size, failedAttempts: voider.failedAttempts }),
        },
        () => breakers?.readings() ?? [],
        () => engine.clientFigures(),
        () => droppedLogLines(log),
      )
    : undefined;
  if (metrics) engine.onThreadReplaced((cause) => metrics.threadReplaced(cause));
  engine.onBreakerTransition((dependency, from, to) => {
    logBreakerTransition(log, dependency, from, to, config.breakerOpenMs);
    metrics?.breakerMoved(dependency, to);
  });
  if (metrics) store.registerMetrics(metrics.registry);
  const events = createEvents(store, config.events, config.clientWeights, log, metrics?.registry, tracing.deliveries);
  const threadEvents = new ThreadEvents(() => engine.threadView(), log);

  const ring = config.access.mode === 'keys' ? new KeyRing(config.access, store.apiKeys()) : undefined;
  // Every instance says so: each is told by Postgres, and its log is its own.
  store
    .apiKeys()
    ?.onChange?.((change) =>
      audit(
        log,
        'info',
        { audit: 'issued_keys_changed', actor: 'npm run keys', ...change },
        'API keys in Postgres changed',
      ),
    );
  const { access } = config;
  const keyReload =
    ring && access.mode === 'keys' && access.files
      ? reloadKeysOnChange({ ...access, files: access.files }, config.host, ring, log, {
          allowEmpty: config.keyFilesAllowEmpty,
        })
      : undefined;
  /** From SIGTERM: /readyz says draining while orders are still served, for DRAIN_DELAY_MS. */
  let leaving = false;
  let servedDocument: ReturnType<typeof openApiDocument> | undefined;
  const loop = new LoopLateness();
  // With keys only: in open mode every request is the one anonymous client's.
  const unauthenticated = config.access.mode === 'keys' ? new UnauthenticatedMeter(log) : undefined;
  const headroom = new TierHeadroom({
    ceilings: config.tierCeilings,
    maxInflight: config.maxInflight,
    poolQueueLimit: config.poolQueueLimit,
    poolQueued: engine.poolQueued,
    recordsMaxBytes: config.orderRecordsMaxBytes,
    recordsBytes: () => records.estimatedBytes?.(),
    // Lateness a keyless flood causes is not the orders' to pay for: shedding them would not make the loop any less
    // late.
    loopLateMs: () => (unauthenticated?.flooding ? 0 : loop.lateMs),
    configured: config.clientTiers.values(),
  });
  const appParts: AppDependencies = {
    orders,
    orderStatus: orderStatusQuery(records, ledger),
    faultInjection: config.faultInjection,
    maxDeadlineMs: config.orderDeadlineMaxMs,
    // Counted by the desk from admission on, so that nothing awaited between admission and the run lets more in.
    capacity: () => ({ ordersInFlight: orders.runsInFlight, maxInflight: config.maxInflight }),
    recordsFull: () => records.isFull(),
    health,
    storeUnavailable: () => store.unavailable(),
    draining: () => server.draining,
    leaving: () => leaving,
    overConnectionLimit: (socket, client) => server.isBeyondLimit(socket, client),
    authenticated: (socket, client) => server.authenticated(socket, client),
    log,
    observer: metrics ?? NO_OBSERVER,
    metrics: metrics ? () => metrics.scrape() : undefined,
    // Served only once listening: it names the address the server listens on.
    openapi: () => (servedDocument ??= openApiDocument({ serverUrl: url.origin, access: config.access.mode })),
    threadEvents,
    identify: ring ? { callerOf: (key) => ring.callerOf(key) } : { open: OPEN_MODE_CALLER },
    allowedHosts: config.allowedHosts,
    ...(breakers ? { dependencies: (client: string) => breakers.admit(client) } : {}),
    dependencyControl: engine.dependencies,
    logLevel: {
      current: () => engine.logLevel.level,
      change: (level) => {
        engine.logLevel.level = level;
        log.level = level;
      },
    },
    ...(events ? { events: events.client } : {}),
    orderViews: { records, ledger, cursors: new FeedCursors(store.events?.cursorSecret ?? randomBytes(32)) },
    ...(unauthenticated ? { unauthenticated } : {}),
    clientShares: shares,
    tiers: {
      tierOf: (caller) => {
        if (caller.tier === undefined) return config.clientTiers.get(caller.client) ?? DEFAULT_TIER;
        clients.tierIs(caller.client, caller.tier);
        return caller.tier;
      },
      headroom,
      line: admissionLine(config, headroom, shares, clients, orders),
    },
    tracing: tracing.requests,
    ...(tracing.recent ? { recentTrace: tracing.recent } : {}),
    ...(anyClientRateLimit(config)
      ? {
          rateLimits: {
            limiter: rateLimiter(config, log),
            limited: (client: string) => clients.refused(client, 'rate_limited'),
          },
        }
      : {}),
  };
  const app = createApp(appParts);
  const server: HttpServer = new HttpServer(
    app,
    { ...config, hardLimit: config.connectionHardLimit, budgetUnauthenticated: config.access.mode === 'keys' },
    log,
    messageClassesOf(app),
  );
  let url: URL;
  let warmedUp: WarmUpFigures | undefined;
  try {
    if (warming) {
      const caller = warmUpCaller(config);
      if (caller) {
        warmedUp = await warming.run({ engine, caller, app: (parts) => createApp({ ...appParts, ...parts }) });
      } else {
        warming.ledger.open();
        log.warn('no warm-up: no client is configured to place its orders as (API_KEYS)');
      }
    }
    // After the warm-up: the durable mode's courier allotment takes over an idle semaphore.
    store.attach({ couriers: engine.couriers, forget: (order) => engine.paymentGateway.forget(order) });
    await store.start();
    await events?.deliveries.start();
    const issued = store.apiKeys()?.size ?? 0;
    if (config.access.mode === 'open' && issued > 0) {
      log.warn(
        { keys_issued: issued },
        'API keys are issued in Postgres, but neither API_KEYS nor ADMIN_KEY is set: open mode lets anyone in and ignores them; set ADMIN_KEY to use them',
      );
    }
    url = await server.listen(config.host, config.port);
  } catch (error) {
    keyReload?.close();
    loop.stop();
    await events?.close();
    await engine.close();
    await store.close();
    await tracing.close();
    throw error;
  }

  let stopping: Promise<void> | undefined;
  const shutdown = async (): Promise<void> => {
    leaving = true;
    keyReload?.close();
    if (config.drainDelayMs > 0) {
      log.info(
        { drain_delay_ms: config.drainDelayMs },
        'not ready: serving on while the load balancer stops routing here',
      );
      await new Promise((resolve) => setTimeout(resolve, config.drainDelayMs));
    }
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
      log.warn(
        { orders_in_flight: orders.runsInFlight },
        'shutdown deadline near: canceling the orders still in flight',
      );
      orders.cancelAll('shutting_down');
      // Every run, its refunds included, ends before the pool closes: none is cut off.
      await idle;
    }
    await server.whenClosed(Math.max(0, deadline - performance.now() - SHUTDOWN_MARGIN_MS));
    loop.stop();
    orders.stopAskingUnsettled();
    await events?.close();
    await engine.close();
    await store.close();
    // Last: every answered order's spans, its refunds' and statements' included, leave before the process exits.
    await tracing.close();
  };

  return {
    url,
    ...(warmedUp ? { warmedUp } : {}),
    health,
    shutdown: () => (stopping ??= shutdown()),
    reloadKeys: () => keyReload?.reload('SIGHUP'),
  };
}

/**
 * The clients' rate limits, counted in this process's memory — or, as one of
 * INSTANCES on this machine, in the node:cluster primary, for one limit
 * across them all (src/http/client-rate-limits.ts).
 */
function rateLimiter(config: Config, log: Logger): ClientRateLimits {
  const store = (config.instances ?? 1) > 1 && cluster.isWorker ? 'cluster' : 'memory';
  return new ClientRateLimits((client) => clientRateLimitOf(config, client), store, log);
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

/**
 * Where an order refused for want of room waits and ages while tiers are in play (src/fairness/admission-line.ts):
 * told of every run's end, it waits at most its deadline less one aging step, so that a free order can rise to the
 * best rank (2 × TIER_AGING_MS of a 2 s deadline) and still take a turn.
 */
function admissionLine(
  config: Config,
  headroom: TierHeadroom,
  shares: ClientShares,
  clients: ClientBook,
  orders: OrderDesk,
): AdmissionLine {
  const line = new AdmissionLine({
    places: config.maxInflight,
    maxWaitMs: config.orderTimeoutMs - TIER_AGING_MS,
    sharers: () => shares.sharers(),
    heldOf: (client) => shares.inFlightOf(client),
    weightOf: (client) => clients.entryOf(client).weight,
    bestRank: () => headroom.bestRank,
    tiered: () => headroom.tiered,
  });
  orders.onRunEnd(() => line.roomFreed());
  return line;
}
