/**
 * One delivery attempt, as the Standard Webhooks specification says
 * (standardwebhooks.com): a POST of the event's JSON with `webhook-id` (the
 * event's id, the same on every attempt), `webhook-timestamp` (this
 * attempt's, in seconds) and `webhook-signature` (`v1,` and the base64 of
 * HMAC-SHA256 over `id.timestamp.body`, keyed with the endpoint's secret).
 * A 2xx answer is success, 410 Gone says the endpoint is gone for good;
 * anything else — another status, no answer within WEBHOOK_TIMEOUT_MS, a
 * refused connection, an address the target guard refuses — is a failure,
 * retried by the relay.
 *
 * node:http(s) rather than fetch: the connection's own `lookup` is where the
 * target guard checks the address actually connected to. The answer's body
 * is read and dropped up to RESPONSE_LIMIT_BYTES, then its connection is
 * closed: a receiver that answers 200 and streams for ever was read for the
 * whole WEBHOOK_TIMEOUT_MS (twelve times the sender's CPU). An attempt's
 * time runs from when its request has a socket, not while it waits for one.
 */
import { createHmac } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { guardedLookup, hostOf, isForbiddenAddress } from './target-guard.js';

export type AttemptResult =
  | { readonly outcome: 'delivered'; readonly status: number }
  | { readonly outcome: 'gone'; readonly status: 410 }
  | { readonly outcome: 'failed'; readonly status: number | undefined; readonly reason: string };

export interface Attempt {
  /** Whose endpoint it is: each client has sockets of its own toward an origin. */
  readonly client: string;
  readonly url: string;
  readonly secret: string;
  readonly eventId: string;
  readonly body: string;
  readonly timeoutMs: number;
  /** Aborts the attempt (the relay closing): a failure like any other. */
  readonly signal?: AbortSignal;
}

const USER_AGENT = 'order-threads-webhooks/1';
/** An answer's body is read this far, at most; past it the connection is closed. */
const RESPONSE_LIMIT_BYTES = 16 * 1024;
/** Sockets one client keeps toward one origin (and idle ones kept alive): a few, reused. */
const POOLING = { keepAlive: true, maxSockets: 8, maxFreeSockets: 4, timeout: 30_000 } as const;
const SECRET_PREFIX = 'whsec_';

/**
 * The Standard Webhooks signature, with node:crypto's HMAC: what the
 * `standardwebhooks` package's `sign` makes (test/unit/webhook-delivery.test.ts
 * checks they agree), at a fraction of its pure-JavaScript SHA-256's cost
 * on the main thread.
 */
export function signature(secret: string, eventId: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
  return `v1,${createHmac('sha256', key).update(`${eventId}.${timestampSeconds}.`).update(body).digest('base64')}`;
}

/**
 * Sends attempts over kept-alive connections (a few per endpoint's origin,
 * idle ones closed after a while): a new connection per delivery cost the
 * main thread more than the rest of the delivery. Each client has agents of
 * its own: tenants of one webhook host sharing its sockets, one tenant's
 * hanging endpoints would leave another's deliveries waiting for them. Agents are made on a client's first attempt and kept
 * (clients are as many as the keys issued).
 */
export class WebhookSender {
  private readonly agents = new Map<string, { readonly http: HttpAgent; readonly https: HttpsAgent }>();

  constructor(private readonly allowPrivate: boolean) {}

  attempt({ client, url, secret, eventId, body, timeoutMs, signal }: Attempt): Promise<AttemptResult> {
    const target = new URL(url);
    const host = hostOf(target);
    // A literal address is connected to without a lookup: checked here instead.
    if (!this.allowPrivate && isIP(host) && isForbiddenAddress(host))
      return Promise.resolve({ outcome: 'failed', status: undefined, reason: 'target address not allowed' });
    if (!this.allowPrivate && target.protocol !== 'https:')
      return Promise.resolve({ outcome: 'failed', status: undefined, reason: 'target must be https' });
    const timestamp = Math.floor(Date.now() / 1000);
    const https = target.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    const agents = this.agentsOf(client);
    // Aborted by the relay closing, or once the attempt's time has run from the moment it has a socket.
    const timedOut = new AbortController();
    return new Promise((resolve) => {
      const request = send(target, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': USER_AGENT,
          'webhook-id': eventId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signature(secret, eventId, timestamp, body),
        },
        // Every new connection's address checked: the guard sits where the name is resolved.
        ...(this.allowPrivate ? {} : { lookup: guardedLookup }),
        agent: https ? agents.https : agents.http,
        signal: signal ? AbortSignal.any([signal, timedOut.signal]) : timedOut.signal,
      });
      let timer: NodeJS.Timeout | undefined;
      request.once('socket', () => {
        timer = setTimeout(() => timedOut.abort(new DOMException('timed out', 'TimeoutError')), timeoutMs);
      });
      request.once('close', () => clearTimeout(timer));
      request.on('response', (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        // Judged on the status; the body is read and dropped so the connection can serve the next attempt — up to a
        // limit, past which the connection goes instead.
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > RESPONSE_LIMIT_BYTES) response.destroy();
        });
        if (status >= 200 && status < 300) resolve({ outcome: 'delivered', status });
        else if (status === 410) resolve({ outcome: 'gone', status: 410 });
        else resolve({ outcome: 'failed', status, reason: `answered ${status}` });
      });
      request.on('error', (error: Error) =>
        resolve({
          outcome: 'failed',
          status: undefined,
          reason: error.name === 'AbortError' || error.name === 'TimeoutError' ? 'timed out' : error.message,
        }),
      );
      request.end(body);
    });
  }

  close(): void {
    for (const { http, https } of this.agents.values()) {
      http.destroy();
      https.destroy();
    }
  }

  private agentsOf(client: string): { readonly http: HttpAgent; readonly https: HttpsAgent } {
    let agents = this.agents.get(client);
    if (!agents) this.agents.set(client, (agents = { http: new HttpAgent(POOLING), https: new HttpsAgent(POOLING) }));
    return agents;
  }
}
