/**
 * The one gate every request passes before routing: the drain, the
 * connection limit, the Host header, where a request that changes anything
 * comes from (cross-site.ts), and the rate of requests no key
 * identifies. One layer rather than one per check: each layer costs every
 * request a turn through the router. The probes pass it whatever the Host
 * and the drain (liveness answers 200, readiness 503), and need no key.
 */
import type { Socket } from 'node:net';
import type { RequestHandler, Response } from 'express';
import { TOO_MANY_CONNECTIONS } from '../wire/refusal-answers.js';
import { SHUTTING_DOWN_MESSAGE, type Responder } from '../wire/responses.js';
import { callerOf, hostNameOf, type Identify } from './authorization.js';
import { crossSiteRefusal } from './cross-site.js';
import { UNAUTHENTICATED_PER_SECOND, type UnauthenticatedMeter } from './unauthenticated-meter.js';

export interface GateOptions {
  readonly draining: () => boolean;
  /** True for a connection opened beyond MAX_CONNECTIONS that found no room (src/http/app.ts says more). */
  readonly overConnectionLimit: (socket: Socket, client: () => string | undefined) => boolean;
  readonly identify: Identify;
  /** Host names requests may be addressed to (ALLOWED_HOSTS). */
  readonly allowedHosts: readonly string[];
  /** Requests no key identifies, metered per peer; without: not metered. */
  readonly unauthenticated?: UnauthenticatedMeter;
}

export function gate(
  { draining, overConnectionLimit, identify, allowedHosts, unauthenticated }: GateOptions,
  responder: Responder,
): RequestHandler {
  const hosts = new Set(allowedHosts);
  const metered = unauthenticated ? meteredKeyless(unauthenticated, responder) : undefined;
  return (req, res, next) => {
    // The probes need no key, and grant no standing: a connection that sent one stays unauthenticated.
    const probe = req.path === '/healthz' || req.path === '/readyz';
    const crossSite = probe ? undefined : crossSiteRefusal(req.method, req.headers);
    // Who the key names, looked up once for the gate and the guards; null: nobody.
    res.locals.identity = callerOf(identify, req.headers.authorization) ?? null;
    // While draining, a request that arrives on a connection still open is
    // turned away (the probes still answer: liveness 200, readiness 503).
    if (draining() && !probe) responder.error(res, 'shutting_down', SHUTTING_DOWN_MESSAGE);
    else if (!probe && overConnectionLimit(req.socket, () => res.locals.identity?.client)) {
      const { kind, message } = TOO_MANY_CONNECTIONS;
      responder.error(res, kind, message, { Connection: 'close' });
    } else if (req.headers.host === undefined && req.httpVersion === '1.1') {
      // RFC 9112 §3.2; Node's own check (requireHostHeader, off) answers in bare text.
      responder.error(res, 'bad_request', 'an HTTP/1.1 request must have a Host header', { Connection: 'close' });
    } else if (req.headers.host !== undefined && !probe && !hosts.has(hostNameOf(req.headers.host))) {
      // A page elsewhere reaching this service through a name it resolved to us (DNS rebinding) is refused here.
      responder.error(
        res,
        'misdirected_request',
        `this service does not answer for ${hostNameOf(req.headers.host)}; ALLOWED_HOSTS lists the names it does`,
      );
    } else if (crossSite !== undefined) {
      // Whatever its key: a page elsewhere gets nothing done with the credentials a browser keeps for this service.
      responder.error(res, 'cross_site_request', crossSite);
    } else if (metered && !probe && res.locals.identity === null) metered(req.socket.remoteAddress ?? '', res, next);
    else next();
  };
}

/**
 * A request no key identifies, counted against its peer's rate (unauthenticated-meter.ts): within it, on its way;
 * past it, answered 429 once its peer's window ends — its line left out, the meter's notice says it.
 */
function meteredKeyless(
  meter: UnauthenticatedMeter,
  responder: Responder,
): (peer: string, res: Response, next: () => void) => void {
  return (peer, res, next) => {
    void meter.take(peer).then((waitMs) => {
      if (waitMs === undefined) return next();
      res.locals.quiet = true;
      const seconds = Math.max(1, Math.ceil(waitMs / 1000));
      setTimeout(() => {
        if (res.writableEnded || res.destroyed) return;
        responder.error(
          res,
          'rate_limited',
          `requests without a valid API key are limited to ${UNAUTHENTICATED_PER_SECOND} a second from one address; retry in ${seconds} s`,
          { 'Retry-After': String(seconds) },
        );
      }, waitMs).unref();
    });
  };
}
