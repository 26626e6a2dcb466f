/**
 * GET /healthz (liveness): what is running right now, read straight from the
 * shared memory the threads write to; 503 while the server drains.
 * GET /readyz (readiness): 503 while draining, while orders are being shed,
 * or while the durable store cannot be reached, so a load balancer sends the
 * next order elsewhere.
 */
import type { RequestHandler } from 'express';
import type { HealthReport, Readiness } from './api-schemas.js';
import type { Responder } from './responses.js';

export function healthRoute(health: () => HealthReport, draining: () => boolean, responder: Responder): RequestHandler {
  return (_req, res) => {
    const isDraining = draining();
    responder.json(res, isDraining ? 503 : 200, { status: isDraining ? 'draining' : 'ok', ...health() });
  };
}

export interface Capacity {
  readonly ordersInFlight: number;
  readonly maxInflight: number;
}

/** `unavailable`: whether no order can start for want of the durable store. */
export function readinessRoute(capacity: () => Capacity, draining: () => boolean, responder: Responder, unavailable: () => boolean = () => false): RequestHandler {
  return (_req, res) => {
    const { ordersInFlight, maxInflight } = capacity();
    const status: Readiness['status'] = draining() ? 'draining' : unavailable() ? 'store_unavailable' : ordersInFlight >= maxInflight ? 'shedding' : 'ready';
    const body: Readiness = { status, orders_in_flight: ordersInFlight, max_inflight: maxInflight };
    responder.json(res, status === 'ready' ? 200 : 503, body);
  };
}
