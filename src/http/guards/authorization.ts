/**
 * Who a request is from, and whether it may do what it asks. The caller is
 * told by the Authorization header: `Bearer <key>`, or — so that a browser
 * can open the admin pages, which it cannot send a bearer token to — HTTP
 * Basic with the key as the password (the user name is ignored). A missing
 * or unknown key is 401 with the challenges; a client's key where the admin
 * key is needed is 403. The key itself is never logged or echoed.
 */
import type { Socket } from 'node:net';
import type { RequestHandler, Response } from 'express';
import type { Caller } from '../../auth/caller.js';
import type { Responder } from '../wire/responses.js';

/** Who a key is (undefined: nobody), or, in open mode, who every request is. */
export type Identify = { readonly open: Caller } | { readonly callerOf: (key: string) => Caller | undefined };

/**
 * Offered with every 401: Bearer for API clients, Basic so that a browser asks for the admin key. Each in a header of
 * its own: Chromium, given both in one header, never offers Basic credentials, not even those of the URL.
 */
const CHALLENGES: readonly string[] = ['Bearer realm="order-threads"', 'Basic realm="order-threads", charset="UTF-8"'];

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** Who the request is from, once a guard has let it through. */
      caller: Caller;
      /** Who its key names, as the gate looked it up (null: nobody); undefined before. */
      identity?: Caller | null;
    }
  }
}

/** The key an Authorization header carries, or undefined if it carries none in a form this service reads. */
export function keyOf(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const space = authorization.indexOf(' ');
  if (space < 0) return undefined;
  const scheme = authorization.slice(0, space).toLowerCase();
  const credentials = authorization.slice(space + 1).trim();
  if (scheme === 'bearer') return credentials;
  if (scheme !== 'basic') return undefined;
  const decoded = Buffer.from(credentials, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

export interface Guards {
  /** Any caller with a key (a client, or the admin as a client of its own). */
  readonly client: RequestHandler;
  /** The admin alone. */
  readonly admin: RequestHandler;
}

/** Who an Authorization header names, or undefined for nobody; in open mode, the one caller. */
export function callerOf(identify: Identify, authorization: string | undefined): Caller | undefined {
  if ('open' in identify) return identify.open;
  const key = keyOf(authorization);
  return key === undefined ? undefined : identify.callerOf(key);
}

/**
 * `authenticated`: told of each connection on which a caller was identified, and who (it leaves the unauthenticated
 * budget, and counts in its client's share of the connections).
 */
export function guards(
  identify: Identify,
  responder: Responder,
  authenticated: (socket: Socket, client: string) => void = () => {},
): Guards {
  /** `needed`: what a 401 says is needed, for the person reading it (a browser shows it when its dialog is canceled). */
  const identified = (authorization: string | undefined, res: Response, needed: string): Caller | undefined => {
    // The gate looked it up already (src/http/app.ts); null: nobody.
    const known = res.locals.identity;
    const caller = known === undefined ? callerOf(identify, authorization) : (known ?? undefined);
    if (caller) {
      authenticated(res.socket!, caller.client);
      return caller;
    }
    const said =
      keyOf(authorization) === undefined
        ? 'no API key came with the request'
        : 'this API key is not known (never issued, or revoked)';
    responder.error(res, 'unauthorized', `${said}: ${needed}`, { 'WWW-Authenticate': CHALLENGES });
    return undefined;
  };
  return {
    client: (req, res, next) => {
      const caller = identified(
        req.headers.authorization,
        res,
        'a client key is needed, as Authorization: Bearer <key>',
      );
      if (!caller) return;
      res.locals.caller = caller;
      next();
    },
    admin: (req, res, next) => {
      const needed = `${req.path} is the admin's: it needs the admin key (ADMIN_KEY), as Authorization: Bearer <key> or, in a browser, as the password (any user name)`;
      const caller = identified(req.headers.authorization, res, needed);
      if (!caller) return;
      if (!caller.admin)
        return responder.error(res, 'forbidden', `${req.path} is the admin's: it needs the admin key (ADMIN_KEY)`);
      res.locals.caller = caller;
      next();
    },
  };
}

/** Who did it, for an audit line: the caller's client name, and which admin key by its fingerprint (never the key). */
export function auditActor(caller: Caller): { actor: string; actor_key?: string } {
  return { actor: caller.client, ...(caller.keyId ? { actor_key: caller.keyId } : {}) };
}

/** The host a Host header names, without its port, lower case (an IPv6 address keeps its brackets). */
export function hostNameOf(header: string): string {
  const host = header.trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}
