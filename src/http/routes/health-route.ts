/**
 * GET /healthz (liveness): what is running right now, read straight from the
 * shared memory the threads write to; 200 whenever the process can answer,
 * draining included (its `status` then says `draining`). A kubelet restarts a
 * container whose liveness fails: a draining process is doing what it
 * should, and killing it would cut the orders it is finishing. Taking an
 * instance out of rotation is readiness's job.
 * GET /readyz (readiness): 503 while draining, while orders are being shed
 * (too many in flight, or no room left in the order records),
 * or while the durable store cannot be reached, so a load balancer sends the
 * next order elsewhere.
 */
import type { RequestHandler } from 'express';
import type { Capacity } from '../../orders/order-admission.js';
import type { HealthReport, Readiness } from '../wire/api-schemas.js';
import type { Responder } from '../wire/responses.js';

export function healthRoute(health: () => HealthReport, draining: () => boolean, responder: Responder): RequestHandler {
  return (_req, res) => responder.json(res, 200, { status: draining() ? 'draining' : 'ok', ...health() });
}

export interface ReadinessSources {
  readonly capacity: () => Capacity;
  readonly draining: () => boolean;
  /** Whether no order can start for want of the durable store. */
  readonly storeUnavailable: () => boolean;
  /** Whether the order records have no room for a new order (they forget none before its time): new orders are shed. */
  readonly recordsFull: () => boolean;
}

export function readinessRoute(
  { capacity, draining, storeUnavailable, recordsFull }: ReadinessSources,
  responder: Responder,
): RequestHandler {
  return (_req, res) => {
    const { ordersInFlight, maxInflight } = capacity();
    const shedding = ordersInFlight >= maxInflight || recordsFull();
    const status: Readiness['status'] = draining()
      ? 'draining'
      : storeUnavailable()
        ? 'store_unavailable'
        : shedding
          ? 'shedding'
          : 'ready';
    const body: Readiness = { status, orders_in_flight: ordersInFlight, max_inflight: maxInflight };
    responder.json(res, status === 'ready' ? 200 : 503, body);
  };
}
