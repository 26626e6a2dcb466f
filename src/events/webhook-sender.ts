/**
 * One delivery attempt, as the Standard Webhooks specification says
 * (standardwebhooks.com): a POST of the event's JSON with `webhook-id` (the
 * event's id, the same on every attempt), `webhook-timestamp` (this
 * attempt's, in seconds) and `webhook-signature` (`v1,` and the base64 of
 * HMAC-SHA256 over `id.timestamp.body`, made by the `standardwebhooks`
 * package with the endpoint's secret). A 2xx answer is success, 410 Gone
 * says the endpoint is gone for good; anything else — another status, no
 * answer within WEBHOOK_TIMEOUT_MS, a refused connection, an address the
 * target guard refuses — is a failure, retried by the relay.
 *
 * node:http(s) rather than fetch: the connection's own `lookup` is where the
 * target guard checks the address actually connected to. The answer's body
 * is never read beyond discarding it.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { Webhook } from 'standardwebhooks';
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
  readonly allowPrivate: boolean;
  /** Aborts the attempt (the relay closing): a failure like any other. */
  readonly signal?: AbortSignal;
}

const USER_AGENT = 'order-threads-webhooks/1';

export function attemptDelivery({
  url,
  secret,
  eventId,
  body,
  timeoutMs,
  allowPrivate,
  signal,
}: Attempt): Promise<AttemptResult> {
  const target = new URL(url);
  const host = hostOf(target);
  // A literal address is connected to without a lookup: checked here instead.
  if (!allowPrivate && isIP(host) && isForbiddenAddress(host))
    return Promise.resolve({ outcome: 'failed', status: undefined, reason: 'target address not allowed' });
  if (!allowPrivate && target.protocol !== 'https:')
    return Promise.resolve({ outcome: 'failed', status: undefined, reason: 'target must be https' });
  const timestamp = new Date();
  const signature = new Webhook(secret).sign(eventId, timestamp, body);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const request = send(target, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'user-agent': USER_AGENT,
        'webhook-id': eventId,
        'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
        'webhook-signature': signature,
      },
      ...(allowPrivate ? {} : { lookup: guardedLookup }),
      // One connection per attempt: no pool of sockets kept open to clients' servers.
      agent: false,
      signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
    });
    request.on('response', (response: IncomingMessage) => {
      response.resume();
      const status = response.statusCode ?? 0;
      // Judged on the status: the body does not matter, and waiting for it would let a slow one hold the attempt.
      if (status >= 200 && status < 300) resolve({ outcome: 'delivered', status });
      else if (status === 410) resolve({ outcome: 'gone', status: 410 });
      else resolve({ outcome: 'failed', status, reason: `answered ${status}` });
      request.destroy();
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
