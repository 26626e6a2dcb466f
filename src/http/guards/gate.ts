/**
 * The one gate every request passes before routing: the drain, the
 * connection limit, the Host header, where a request that changes anything
 * comes from (cross-site.ts), the rate of requests no key identifies, and a
 * known client's: its budget on every route but POST /order (rate-limit.ts),
 * and its share of a late event loop (client-load.ts). One layer rather than one per check: each layer costs every
 * request a turn through the router. The probes pass it whatever the Host
 * and the drain (liveness answers 200, readiness 503), and need no key.
 */
import type { Socket } from 'node:net';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { shedForTheLoop, TOO_MANY_CONNECTIONS } from '../wire/refusal-answers.js';
import { SHUTTING_DOWN_MESSAGE, type Responder } from '../wire/responses.js';
import { callerOf, hostNameOf, type Identify } from './authorization.js';
import { crossSiteRefusal } from './cross-site.js';
import type { ClientLoad } from './client-load.js';
import { requestBudget, type ClientRateLimiter } from './rate-limit.js';
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
  /** Each client's budget of requests on every route but POST /order, and who to tell of one refused; without: none. */
  readonly requestBudget?: { readonly limiter: ClientRateLimiter; readonly limited?: (client: string) => void };
  /** Each client's share of a late event loop; without: no client is shed for it. */
  readonly clientLoad?: Pick<ClientLoad, 'arrived'>;
  /** Where a client's requests over its budget are told of. */
  readonly log: Logger;
}

export function gate(options: GateOptions, responder: Responder): RequestHandler {
  const { draining, overConnectionLimit, identify, allowedHosts, unauthenticated } = options;
  const hosts = new Set(allowedHosts);
  const metered = unauthenticated ? meteredKeyless(unauthenticated, responder) : undefined;
  const keyed = meteredKeyed(options, responder);
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
    } else if (metered && !probe && res.locals.identity === null) {
      options.clientLoad?.arrived(undefined);
      metered(req.socket.remoteAddress ?? '', res, next);
    } else if (!probe && res.locals.identity) keyed(res.locals.identity.client, req, res, next);
    else next();
  };
}

/** How long a request shed for a late loop is held before its answer: as one over its budget, a second at most. */
const SHED_HOLD_MS = 1000;

/**
 * A request of a known client: shed while the loop runs late and its client is far beyond its share of it (answered
 * 503 once SHED_HOLD_MS has passed, its line left out), else counted against its budget, but for POST /order (its
 * own limit, CLIENT_RATE_LIMIT, is the route's).
 */
function meteredKeyed(
  { requestBudget: budget, clientLoad, log }: GateOptions,
  responder: Responder,
): (client: string, req: Request, res: Response, next: () => void) => void {
  const counted = budget && requestBudget(budget.limiter, responder, log, budget.limited ?? (() => {}));
  return (client, req, res, next) => {
    if (clientLoad?.arrived(client)) {
      res.locals.quiet = true;
      setTimeout(() => {
        if (res.writableEnded || res.destroyed) return;
        const { kind, message } = shedForTheLoop(client);
        responder.error(res, kind, message, { 'Retry-After': '1' });
      }, SHED_HOLD_MS).unref();
    } else if (counted && !(req.method === 'POST' && req.path === '/order')) counted(client, res, next);
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
