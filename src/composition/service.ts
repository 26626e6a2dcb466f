/**
 * The service, built in stages (stages.ts), each on those before it:
 * tracing, the store, the engine on its books and courier pool, the side
 * threads that deliver the events, the order desk, and the edge (the app and
 * its server). Then it begins: the warm-up, the store's recovery, the
 * deliveries, and the server listening last.
 *
 * Its end is the drain, then the stages' closers in reverse. The invariants
 * that order keeps: nothing closes before the drain has let every order in
 * flight end and void its payments (the engine's threads run their refunds,
 * the store records them); the side threads close before the store they
 * deliver from; the store before tracing, which closes last so that every
 * answered order's spans, its refunds' and statements' included, leave
 * before the process exits.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { HealthReport } from '../http/wire/api-schemas.js';
import { createLogger } from '../observability/logging.js';
import { ClientShares } from '../orders/client-shares.js';
import type { StepDefinition } from '../pipeline/steps.js';
import type { Store } from '../store/store.js';
import { createTracing, type Tracing } from '../tracing/tracing.js';
import type { ClientBook } from '../clients/client-book.js';
import { createApp } from '../http/app.js';
import { refuseTakenPortAtStart } from '../http/port-ownership.js';
import type { WarmUpFigures } from '../warm-up/warm-up-orders.js';
import { createClientBook } from './clients.js';
import { startDesk } from './desk.js';
import { drain } from './drain.js';
import { startEdge, type Edge } from './edge.js';
import { createOrderEngine, type OrderEngine } from './engine.js';
import { createEvents, type ServiceEvents } from './events.js';
import { Stages, type Stage } from './stages.js';
import { DEFAULT_STEPS } from './steps.js';
import { openStore } from './store.js';
import { ServiceWarmUp, warmUpCaller } from './warm-up.js';

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
  await refuseTakenPortAtStart(config.host, config.port);
  const stages = new Stages();
  const tracing = await stages.build(async () => {
    const made = await createTracing(config.tracing);
    return { made, close: () => made.close() };
  });
  const store = await stages.build(async () => {
    const made = await openStore(config, log, tracing.statements, tracing.orderTraceOf);
    return { made, close: () => made.close() };
  });
  const { engine, clients, shares, warming } = await stages.build(() =>
    startEngine(config, log, steps, store, tracing),
  );
  const events = await stages.build(() => startSideThreads(config, log, store, tracing));
  const desk = await stages.build(() => startDesk(config, log, store, engine, events));
  const edge = await stages.build(() =>
    startEdge({ config, log, tracing, store, engine, clients, shares, events, desk }),
  );
  const { url, warmedUp } = await stages.orClose(async () => {
    const warmedUp = warming && (await warmUp(config, log, warming, engine, edge));
    // After the warm-up: the durable mode's courier allotment takes over an idle semaphore.
    store.attach({
      couriers: engine.couriers,
      forget: (order) => (engine.paymentGateway.forget(order), engine.effectGateway.forget(order)),
    });
    await store.start();
    await events?.deliveries.start();
    warnOfIgnoredKeys(config, store, log);
    return { url: await edge.listen(), warmedUp };
  });

  let stopping: Promise<void> | undefined;
  const shutdown = async (): Promise<void> => {
    await drain(config, log, edge, desk.orders, store);
    await stages.close();
  };
  return {
    url,
    ...(warmedUp ? { warmedUp } : {}),
    health: desk.health,
    shutdown: () => (stopping ??= shutdown()),
    reloadKeys: () => edge.keyReload?.reload('SIGHUP'),
  };
}

/** The engine on the store's books and, during a warm-up, on the warm-up's; the clients sharing it, and their shares. */
function startEngine(
  config: Config,
  log: Logger,
  steps: readonly StepDefinition[],
  store: Store,
  tracing: Tracing,
): Stage<{ engine: OrderEngine; clients: ClientBook; shares: ClientShares; warming: ServiceWarmUp | undefined }> {
  // The bulkheads: who shares the service, and each client's share of what is scarce.
  const clients = createClientBook(config);
  const shares = new ClientShares({
    maxInflight: config.maxInflight,
    recordsMaxBytes: config.orderRecordsMaxBytes,
    records: store.records,
    clients,
    lastingFromMs: config.orderTimeoutMs,
  });
  const warming = config.warmUpMs > 0 ? new ServiceWarmUp(config, store.ledger, store.services) : undefined;
  const engine = createOrderEngine({ ...config, couriers: store.couriers }, log, {
    steps,
    ledger: warming?.ledger ?? store.ledger,
    services: warming?.services ?? store.services,
    callerOf: (run) => store.callerOf(run),
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
  return { made: { engine, clients, shares, warming }, close: () => engine.close() };
}

/** The side threads that deliver the events (none where the store keeps no events), made but not yet started. */
function startSideThreads(
  config: Config,
  log: Logger,
  store: Store,
  tracing: Tracing,
): Stage<ServiceEvents | undefined> {
  const events = createEvents(store, config.events, config.clientWeights, log, tracing.deliveries);
  return { made: events, close: () => events?.close() };
}

/** The warm-up (WARM_UP_MS) through the engine and the app as the edge builds it; the real books open after it. */
async function warmUp(
  config: Config,
  log: Logger,
  warming: ServiceWarmUp,
  engine: OrderEngine,
  edge: Edge,
): Promise<WarmUpFigures | undefined> {
  const caller = warmUpCaller(config);
  if (caller) return warming.run({ engine, caller, app: (parts) => createApp({ ...edge.appParts, ...parts }) });
  warming.open();
  log.warn('no warm-up: no client is configured to place its orders as (API_KEYS)');
  return undefined;
}

/** Keys issued in Postgres mean nothing in open mode: the operator is told, not left to wonder. */
function warnOfIgnoredKeys(config: Config, store: Store, log: Logger): void {
  const issued = store.apiKeys()?.size ?? 0;
  if (config.access.mode === 'open' && issued > 0) {
    log.warn(
      { keys_issued: issued },
      'API keys are issued in Postgres, but neither API_KEYS nor ADMIN_KEY is set: open mode lets anyone in and ignores them; set ADMIN_KEY to use them',
    );
  }
}
