/**
 * The edge stage of the service: the keys (and their files' reload), the
 * HTTP app on every piece built before it, and the server, not yet
 * listening. Closed, it stops watching the key files and measuring the
 * event loop's lateness; the server's own end is the drain's (drain.ts).
 */
import { randomBytes } from 'node:crypto';
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import type { Express } from 'express';
import { OPEN_MODE_CALLER } from '../auth/caller.js';
import { KeyRing } from '../auth/key-ring.js';
import type { ClientBook } from '../clients/client-book.js';
import { anyClientRateLimit, clientRateLimitOf, clientRequestRateLimitOf, type Config } from '../config.js';
import { DEFAULT_TIER } from '../domain/tier.js';
import { FeedCursors } from '../events/feed-cursor.js';
import { AdmissionLine } from '../fairness/admission-line.js';
import { TierHeadroom } from '../fairness/tier-headroom.js';
import { TIER_AGING_MS } from '../fairness/tiers.js';
import { createApp, type AppDependencies } from '../http/app.js';
import { ClientLoad } from '../http/guards/client-load.js';
import { ClientRateLimits } from '../http/guards/client-rate-limits.js';
import { messageClassesOf } from '../http/express-messages.js';
import { openApiDocument } from '../http/openapi/openapi.js';
import { HttpServer } from '../http/server.js';
import { LateReads } from '../http/guards/late-reads.js';
import { ThreadEvents } from '../observability/live-pages/thread-events.js';
import { UnauthenticatedMeter } from '../http/guards/unauthenticated-meter.js';
import { audit } from '../observability/logging.js';
import { NO_OBSERVER } from '../observability/metrics.js';
import { NO_BREAKERS } from '../orders/order-admission.js';
import type { ClientShares } from '../orders/client-shares.js';
import type { OrderDesk } from '../orders/order-desk.js';
import { orderStatusQuery } from '../orders/order-status.js';
import type { Store } from '../store/store.js';
import type { Tracing } from '../tracing/tracing.js';
import type { Desk } from './desk.js';
import type { OrderEngine } from './engine.js';
import type { ServiceEvents } from './events.js';
import { reloadKeysOnChange, type KeyReload } from './key-reload.js';
import { LoopLateness } from './loop-lateness.js';
import type { Stage } from './stages.js';

/** Every piece the stages before the edge made. */
export interface EdgeParts {
  readonly config: Config;
  readonly log: Logger;
  readonly tracing: Tracing;
  readonly store: Store;
  readonly engine: OrderEngine;
  readonly clients: ClientBook;
  readonly shares: ClientShares;
  readonly events: ServiceEvents | undefined;
  readonly desk: Desk;
}

export interface Edge {
  /** The app's parts, for the warm-up's own app to take all but a few of. */
  readonly appParts: AppDependencies;
  readonly server: HttpServer;
  readonly threadEvents: ThreadEvents;
  readonly keyReload: KeyReload | undefined;
  /** From SIGTERM: /readyz says draining while orders are still served, for DRAIN_DELAY_MS. */
  leave(): void;
  listen(): Promise<URL>;
}

export function startEdge(parts: EdgeParts): Stage<Edge> {
  const { config, log, store, engine } = parts;
  const { ring, keyReload } = keysOf(config, store, log);
  let leaving = false;
  let url: URL | undefined;
  let servedDocument: ReturnType<typeof openApiDocument> | undefined;
  const loop = new LoopLateness();
  // With keys only: in open mode every request is the one anonymous client's.
  const unauthenticated = config.access.mode === 'keys' ? new UnauthenticatedMeter(log) : undefined;
  const clientLoad =
    config.access.mode === 'keys' ? new ClientLoad(loop, config.clientWeights, () => parts.clients.count) : undefined;
  const threadEvents = new ThreadEvents(() => engine.threadView(), log);
  const appParts: AppDependencies = {
    ...appDependencies(parts, loop, unauthenticated, clientLoad),
    draining: () => server.draining,
    leaving: () => leaving,
    overConnectionLimit: (socket, client) => server.isBeyondLimit(socket, client),
    authenticated: (socket, client) => server.authenticated(socket, client),
    // Served only once listening: it names the address the server listens on.
    openapi: () => (servedDocument ??= openApiDocument({ serverUrl: url!.origin, access: config.access.mode })),
    threadEvents,
    identify: ring ? { callerOf: (key) => ring.callerOf(key) } : { open: OPEN_MODE_CALLER },
  };
  const app: Express = createApp(appParts);
  const server: HttpServer = new HttpServer(
    app,
    { ...config, hardLimit: config.connectionHardLimit, budgetUnauthenticated: config.access.mode === 'keys' },
    log,
    messageClassesOf(app),
    // Orders and the lease's renewal run on this thread: reads give way to them as soon as it runs late.
    new LateReads(loop, log, () => parts.desk.orders.runsInFlight),
  );
  // A run taken over here (resumed, redriven) is admitted by a new order's rules, and from SIGTERM on not at all: a
  // stopping instance takes nothing over. Counted as admitted where it was first admitted, not again here.
  const { capacity, dependencies = NO_BREAKERS, clientShares, tiers } = appParts;
  parts.desk.orders.takeovers.admitBy({
    capacity,
    draining: () => leaving || server.draining,
    dependencies,
    ...(clientShares ? { clientShares } : {}),
    ...(tiers ? { tiers: { headroom: tiers.headroom } } : {}),
    observer: { orderAdmitted: () => {} },
  });
  const edge: Edge = {
    appParts,
    server,
    threadEvents,
    keyReload,
    leave: () => (leaving = true),
    listen: async () => (url = await server.listen(config.host, config.port)),
  };
  return {
    made: edge,
    close: () => {
      keyReload?.close();
      loop.stop();
    },
  };
}

type SharedParts = Omit<
  AppDependencies,
  'draining' | 'leaving' | 'overConnectionLimit' | 'authenticated' | 'openapi' | 'threadEvents' | 'identify'
>;

/** What the app is given of the pieces built before the edge. */
function appDependencies(
  { config, log, tracing, store, engine, clients, shares, events, desk }: EdgeParts,
  loop: LoopLateness,
  unauthenticated: UnauthenticatedMeter | undefined,
  clientLoad: ClientLoad | undefined,
): SharedParts {
  const { records, ledger } = store;
  const { orders, health, metrics } = desk;
  const { breakers } = engine;
  const headroom = new TierHeadroom({
    ceilings: config.tierCeilings,
    maxInflight: config.maxInflight,
    poolQueueLimit: config.poolQueueLimit,
    poolQueued: engine.poolQueued,
    recordsMaxBytes: config.orderRecordsMaxBytes,
    recordsBytes: () => records.estimatedBytes?.(),
    // Lateness a flood causes — keyless, or a client's shed or refused over its budget for it — is not the orders' to
    // pay for: shedding them would not make the loop any less late.
    loopLateMs: () => (unauthenticated?.flooding || clientLoad?.flooding ? 0 : loop.lateMs),
    configured: config.clientTiers.values(),
  });
  return {
    orders,
    orderStatus: orderStatusQuery(records, ledger),
    faultInjection: config.faultInjection,
    maxDeadlineMs: config.orderDeadlineMaxMs,
    orderTimeoutMs: config.orderTimeoutMs,
    // Counted by the desk from admission on, so that nothing awaited between admission and the run lets more in.
    capacity: () => ({ ordersInFlight: orders.runsInFlight, maxInflight: config.maxInflight }),
    recordsFull: () => records.isFull(),
    health,
    storeUnavailable: () => store.unavailable(),
    log,
    observer: metrics ?? NO_OBSERVER,
    metrics: metrics ? () => metrics.scrape() : undefined,
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
    orderViews: {
      records,
      ledger,
      cursors: new FeedCursors(store.events?.cursorSecret ?? randomBytes(32)),
      // The services' books are kept past a run where the attempts are (Postgres): in memory they go as it ends.
      ...(store.attempts ? { attempts: store.attempts, effects: store.services } : {}),
      orderTimeoutMs: config.orderTimeoutMs,
      redrives: records.redrive !== undefined,
    },
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
    ...(clientRequestRateLimitOf(config) > 0
      ? {
          requestBudget: {
            limiter: rateLimiter(config, log, 'requests'),
            ...(clientLoad ? { limited: () => clientLoad.refusedOverBudget() } : {}),
          },
        }
      : {}),
    ...(clientLoad ? { clientLoad } : {}),
  };
}

/** The keys callers present, from the configuration and the store, and the reload of their files (if any). */
function keysOf(
  config: Config,
  store: Store,
  log: Logger,
): { ring: KeyRing | undefined; keyReload: KeyReload | undefined } {
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
  return { ring, keyReload };
}

/**
 * The clients' rate limits. Their orders: counted in this process's memory — or, as one of INSTANCES on this machine,
 * in the node:cluster primary, for one limit across them all (src/http/guards/client-rate-limits.ts). Their other
 * requests' budget: in this process's memory always, what it keeps being this instance's own event loop, and a round
 * trip to the primary for every request being a cost of its own.
 */
function rateLimiter(config: Config, log: Logger, counted: 'orders' | 'requests' = 'orders'): ClientRateLimits {
  if (counted === 'requests')
    return new ClientRateLimits(() => clientRequestRateLimitOf(config), 'memory', log, counted);
  const store = (config.instances ?? 1) > 1 && cluster.isWorker ? 'cluster' : 'memory';
  return new ClientRateLimits((client) => clientRateLimitOf(config, client), store, log, counted);
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
