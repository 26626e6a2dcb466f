/**
 * The desk stage of the service: the order desk on the engine and the
 * store's records, what the store tells it (a lease lost, a cancel marked
 * elsewhere), the service's health, and its metrics. Closed, the desk stops
 * asking the store how runs it could not wait for ended.
 */
import type { Logger } from 'pino';
import { randomUuid } from '../random-ids.js';
import type { Config } from '../config.js';
import type { ServiceEvents } from './events.js';
import { registerEventMetrics } from '../events/event-metrics.js';
import type { HealthReport } from '../http/wire/api-schemas.js';
import { droppedLogLines, logBreakerTransition, runEvents, unraisedAlarm } from '../observability/logging.js';
import { ServiceMetrics } from '../observability/metrics.js';
import { OrderDesk } from '../orders/order-desk.js';
import type { Store } from '../store/store.js';
import type { OrderEngine } from './engine.js';
import type { Stage } from './stages.js';

export interface Desk {
  readonly orders: OrderDesk;
  readonly health: () => HealthReport;
  /** Undefined with METRICS=off. */
  readonly metrics: ServiceMetrics | undefined;
}

export function startDesk(
  config: Config,
  log: Logger,
  store: Store,
  engine: OrderEngine,
  events: ServiceEvents | undefined,
): Stage<Desk> {
  const { records, ledger } = store;
  const { pipeline, paymentGateway, voider, breakers } = engine;
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
  // Before the first recovery pass too: a lost instance's run taken over is run on here, after its recorded steps, in
  // the room the desk gave it before it was claimed (admitted as a new order is: the edge gives it the rules).
  store.resumeWith({
    room: () => orders.takeovers.room(),
    roomFor: ({ key, tier }) => {
      const room = orders.takeovers.admit(key, tier);
      return 'refused' in room ? undefined : room;
    },
    resume: (resumption, room) => orders.resume(resumption, { requestId: randomUuid() }, room),
    onRoomFreed: (listener) => orders.onRunEnd(listener),
  });
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
  if (metrics) {
    store.registerMetrics(metrics.registry);
    if (events) registerEventMetrics(metrics.registry, events.deliveries);
  }
  return { made: { orders, health, metrics }, close: () => orders.stopAskingUnsettled() };
}
