/**
 * Which store the service keeps its orders and money in: Postgres, shared
 * by every instance, with DATABASE_URL; this process's memory otherwise.
 * The one place that chooses (a third store is one more line here).
 */
import type { Logger } from 'pino';
import { leaseMarginMs, type Config } from '../config.js';
import { MemoryStore } from '../store/memory-store.js';
import type { Store } from '../store/store.js';
import type { StatementObserver } from '../domain/trace.js';
import type { OrderTraceOf } from '../events/delivery-traces.js';
import { AT_RISK_BYTES } from '../threads/payment-gateway.js';

/** `statements`: told of each order's durable statements, for its trace; `traceOf`: an order's trace, for its events. */
export async function openStore(
  config: Config,
  log: Logger,
  statements?: StatementObserver,
  traceOf?: OrderTraceOf,
): Promise<Store> {
  if (config.durable) {
    // Loaded only here: pg and graphile-worker are a sixth of what an in-memory instance would load at start.
    const { PostgresStore } = await import('../postgres/postgres-store.js');
    const leaseMarginOf = { leaseMs: config.durable.leaseMs, cancelGraceMs: config.cancelGraceMs };
    return PostgresStore.open(
      {
        ...config.durable,
        leaseMarginMs: leaseMarginMs(leaseMarginOf),
        replayMs: config.idempotencyTtlMs,
        couriers: config.couriers,
        readerWeights: config.clientWeights,
        ...(statements ? { statements } : {}),
        ...(traceOf ? { traceOf } : {}),
      },
      log,
    );
  }
  return new MemoryStore({
    ttlMs: config.idempotencyTtlMs,
    maxBytes: config.orderRecordsMaxBytes,
    couriers: config.couriers,
    atRiskBytes: AT_RISK_BYTES,
    eventsMax: config.events.eventsMax,
    clientWeights: config.clientWeights,
    ...(traceOf ? { traceOf } : {}),
  });
}
