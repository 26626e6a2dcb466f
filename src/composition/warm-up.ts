/**
 * The warm-up before the service listens (WARM_UP_MS). A fresh process is
 * slow for its first few thousand orders: V8 has compiled little of the HTTP
 * path on the main thread, and each step thread is an isolate of its own,
 * cold too (docs/decisions/the-warm-up.md). So
 * orders run first through the real engine — its step threads, its pipeline,
 * its courier semaphore — and through the app as the service builds it, on a
 * loopback port of their own.
 *
 * Nothing of them is kept. They are placed at a desk of their own, whose
 * records, books and outbox are a scratch in-memory store dropped after; the
 * engine's books are the scratch ones until the warm-up is over
 * (LedgerAfterWarmUp); the app has no log, no metrics and no traces; and
 * they are placed as a client the service has anyway, so the client book
 * gains no one. The engine is checked at rest before the real books open.
 */
import type { RequestListener } from 'node:http';
import pino from 'pino';
import { OPEN_MODE_CALLER, type Caller } from '../auth/caller.js';
import type { Config } from '../config.js';
import { orderKey } from '../domain/order.js';
import type { AppDependencies } from '../http/app.js';
import { messageClassesOf } from '../http/express-messages.js';
import { HttpServer } from '../http/server.js';
import { NO_OBSERVER } from '../observability/metrics.js';
import { ClientShares } from '../orders/client-shares.js';
import { OrderDesk } from '../orders/order-desk.js';
import { orderStatusQuery } from '../orders/order-status.js';
import { MemoryStore } from '../store/memory-store.js';
import { AT_RISK_BYTES } from '../threads/payment-gateway.js';
import { traceIdsOnly } from '../tracing/trace-ids.js';
import type { PaymentLedger } from '../ledger/payment-ledger.js';
import { LedgerAfterWarmUp } from '../warm-up/ledger-after-warm-up.js';
import { ServicesAfterWarmUp } from '../warm-up/services-after-warm-up.js';
import type { ServiceBooks } from '../ledger/service-books.js';
import { sendWarmUpOrders, warmUpOrderId, type WarmUpFigures } from '../warm-up/warm-up-orders.js';
import type { OrderEngine } from './engine.js';
import type { Express } from 'express';

/** Connections the warm-up sends on: enough for the threads' batches of several steps, as under load. */
const WARM_UP_CONNECTIONS = 32;
const SCRATCH_RECORDS_BYTES = 64 * 1024 * 1024;

export interface WarmUpParts {
  /** The engine, built with `ServiceWarmUp.ledger` as its books. */
  readonly engine: OrderEngine;
  /** Who the warm-up's orders are placed as: a client the service has anyway. */
  readonly caller: Caller;
  /** The app as the service builds its own, with the parts given here in place of its own. */
  readonly app: (parts: Partial<AppDependencies>) => Express;
}

export class ServiceWarmUp {
  /** The books to build the engine with: the scratch store's until the warm-up is over, then `real`. */
  readonly ledger: LedgerAfterWarmUp;
  readonly services: ServicesAfterWarmUp;
  private readonly scratch: MemoryStore;

  constructor(
    private readonly config: Config,
    real: PaymentLedger,
    realServices: ServiceBooks,
  ) {
    this.scratch = new MemoryStore({
      ttlMs: config.idempotencyTtlMs,
      maxBytes: SCRATCH_RECORDS_BYTES,
      couriers: config.couriers,
      atRiskBytes: AT_RISK_BYTES,
      eventsMax: 1,
      clientWeights: new Map(),
    });
    this.ledger = new LedgerAfterWarmUp(real, this.scratch.ledger);
    this.services = new ServicesAfterWarmUp(realServices, this.scratch.services);
  }

  /** Every book the engine was built with, the real ones from now on. */
  open(): void {
    this.ledger.open();
    this.services.open();
  }

  /** Runs the warm-up, then opens the real books; throws, books unopened, if anything of it is left running. */
  async run({ engine, caller, app: appWith }: WarmUpParts): Promise<WarmUpFigures> {
    const desk = new OrderDesk(engine.pipeline, this.scratch.records);
    const silent = pino({ level: 'silent' });
    let server: HttpServer | undefined = undefined;
    const app = appWith({
      orders: desk,
      orderStatus: orderStatusQuery(this.scratch.records, this.scratch.ledger),
      capacity: () => ({ ordersInFlight: desk.runsInFlight, maxInflight: this.config.maxInflight }),
      recordsFull: () => this.scratch.records.isFull(),
      // The real store is not started yet (no lease in the durable mode): the warm-up's records are scratch ones.
      storeUnavailable: () => false,
      draining: () => server?.draining ?? false,
      leaving: () => false,
      overConnectionLimit: (socket, client) => server?.isBeyondLimit(socket, client) ?? false,
      authenticated: (socket, client) => server?.authenticated(socket, client),
      log: silent,
      observer: NO_OBSERVER,
      metrics: undefined,
      identify: { open: caller },
      allowedHosts: ['127.0.0.1'],
      clientShares: new ClientShares({
        maxInflight: this.config.maxInflight,
        recordsMaxBytes: SCRATCH_RECORDS_BYTES,
        records: this.scratch.records,
        clients: engine.clients,
      }),
      // All standard: the real headroom would note the tier it saw.
      tiers: undefined,
      tracing: traceIdsOnly,
      recentTrace: undefined,
      events: undefined,
      rateLimits: undefined,
      dependencies: undefined,
    });
    server = new HttpServer(
      app as RequestListener,
      { ...this.config, hardLimit: undefined, budgetUnauthenticated: false },
      silent,
      messageClassesOf(app),
    );
    // Its own port in each instance of a cluster: a shared one would send one instance's warm-up to another.
    const url = await server.listen('127.0.0.1', 0, { exclusive: true });
    let figures: WarmUpFigures;
    try {
      figures = await sendWarmUpOrders({ url, durationMs: this.config.warmUpMs, connections: WARM_UP_CONNECTIONS });
    } finally {
      server.startDraining();
      await server.whenClosed(1000);
    }
    await desk.whenIdle();
    desk.stopAskingUnsettled();
    // Nothing is kept of an answered order unless a thread was lost under it (an answer never claimed, swept later).
    for (let n = 0; n < figures.orders; n++) {
      const order = orderKey(caller.client, warmUpOrderId(n));
      engine.paymentGateway.forget(order);
      engine.effectGateway.forget(order);
    }
    const left = leftRunning(engine);
    if (left.length > 0) throw new Error(`the warm-up left ${left.join(', ')}`);
    this.open();
    return figures;
  }
}

/** What the engine would still hold of the warm-up: nothing, once its orders are all answered. */
function leftRunning(engine: OrderEngine): string[] {
  const health = engine.health();
  const left: string[] = [];
  if (health.running_steps !== 0) left.push(`${health.running_steps} steps running`);
  if (health.couriers_busy !== 0) left.push(`${health.couriers_busy} couriers busy`);
  if (engine.voider.size !== 0) left.push(`${engine.voider.size} voids pending`);
  if (engine.paymentGateway.ordersKept() !== 0)
    left.push(`${engine.paymentGateway.ordersKept()} orders kept by the gateway`);
  return left;
}

/**
 * Who the warm-up's orders are placed as: in open mode the one anonymous client every order is placed as; with keys,
 * the first client API_KEYS names. None with keys issued in Postgres alone: a client placed there would be one more
 * client in the book, for good, and with two the per-client caps apply.
 */
export function warmUpCaller(config: Pick<Config, 'access'>): Caller | undefined {
  if (config.access.mode === 'open') return OPEN_MODE_CALLER;
  const first = config.access.clients[0];
  return first ? { client: first.client, admin: false } : undefined;
}
