/**
 * GET /healthz: what is running right now, read straight from the shared
 * memory the threads write to. 503 while the server drains.
 */
import type { RequestHandler } from 'express';
import type { Responder } from './responses.js';

export interface HealthReport {
  /** Steps running inside worker threads (the cross-thread tracker). */
  readonly running_steps: number;
  /** Live worker threads. */
  readonly threads: number;
  /** Steps dispatched but not yet started on a thread. */
  readonly queued: number;
  readonly couriers_busy: number;
  readonly couriers: number;
  readonly orders_in_flight: number;
  /** Threads terminated or crashed and replaced since start. */
  readonly threads_replaced: number;
}

export function healthRoute(health: () => HealthReport, draining: () => boolean, responder: Responder): RequestHandler {
  return (_req, res) => {
    const isDraining = draining();
    responder.json(res, isDraining ? 503 : 200, { status: isDraining ? 'draining' : 'ok', ...health() });
  };
}
