/**
 * The app (src/http/app.ts) over what a route's unit test gives it — a desk, a status query, a log — and nothing else:
 * open access, no store behind it, every other dependency one that is never asked.
 */
import type { Express } from 'express';
import type { Logger } from 'pino';
import { createApp, type AppDependencies } from '../../src/http/app.js';
import { ThreadEvents } from '../../src/observability/live-pages/thread-events.js';
import { NO_OBSERVER } from '../../src/observability/metrics.js';

export function bareApp({
  orders,
  orderStatus,
  log,
}: Pick<AppDependencies, 'orders' | 'orderStatus'> & { readonly log: Logger }): Express {
  return createApp({
    orders,
    orderStatus,
    faultInjection: false,
    maxDeadlineMs: 300_000,
    orderTimeoutMs: 2000,
    capacity: () => ({ ordersInFlight: 0, maxInflight: 10 }),
    health: () => {
      throw new Error('not asked here');
    },
    recordsFull: () => false,
    draining: () => false,
    overConnectionLimit: () => false,
    log,
    observer: NO_OBSERVER,
    metrics: undefined,
    openapi: () => ({}),
    threadEvents: new ThreadEvents(() => ({}), log),
    identify: { open: { client: 'anonymous', admin: true } },
    allowedHosts: ['127.0.0.1'],
    dependencyControl: { states: () => [], switchOutage: () => ({}) as never },
  });
}
