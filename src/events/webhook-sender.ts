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
 * is never read beyond discarding it.
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
  readonly url: string;
  readonly secret: string;
  readonly eventId: string;
  readonly body: string;
  readonly timeoutMs: number;
  /** Aborts the attempt (the relay closing): a failure like any other. */
  readonly signal?: AbortSignal;
}

const USER_AGENT = 'order-threads-webhooks/1';
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
 * main thread more than the rest of the delivery.
 */
export class WebhookSender {
  private readonly agents: { readonly http: HttpAgent; readonly https: HttpsAgent };

  constructor(private readonly allowPrivate: boolean) {
    const pooling = { keepAlive: true, maxSockets: 8, maxFreeSockets: 4, timeout: 30_000 };
    this.agents = { http: new HttpAgent(pooling), https: new HttpsAgent(pooling) };
  }

  attempt({ url, secret, eventId, body, timeoutMs, signal }: Attempt): Promise<AttemptResult> {
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
        agent: https ? this.agents.https : this.agents.http,
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
      });
      request.on('response', (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        // Judged on the status; the body is read and dropped so the connection can serve the next attempt.
        response.resume();
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
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
