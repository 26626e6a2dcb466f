/**
 * The harness's HTTP client: one request on a connection of its own, which
 * ends in an answer, a hang-up of the client's choosing (mid-order, or after
 * its timeout), or a failure of the connection — never a promise left
 * hanging, whatever the instance does (killed, stopped, restarted).
 */
import { request } from 'node:http';
import type { AttemptEnd } from './history.js';

export interface Call {
  readonly port: number;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: string;
  /** Give up (hang up) after this long without a whole answer. */
  readonly timeoutMs: number;
  /** Hang up on purpose this long after sending, if no answer came first. */
  readonly hangUpAfterMs?: number;
  /** Headers besides the body's. */
  readonly headers?: Readonly<Record<string, string>>;
}

export function call({
  port,
  method,
  path,
  body,
  timeoutMs,
  hangUpAfterMs,
  headers: extra = {},
}: Call): Promise<AttemptEnd> {
  return new Promise((resolve) => {
    let settled = false;
    const end = (outcome: AttemptEnd): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      clearTimeout(hangUp);
      resolve(outcome);
      if (outcome.kind !== 'answered') req.destroy();
    };
    const headers = {
      ...extra,
      ...(body === undefined
        ? {}
        : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }),
    };
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        end({
          kind: 'answered',
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          replayed: res.headers['idempotent-replayed'] === 'true',
        }),
      );
      res.on('error', (error) => end({ kind: 'failed', error: error.message }));
      res.on('close', () => end({ kind: 'failed', error: 'the connection closed before the answer ended' }));
    });
    const timeout = setTimeout(() => end({ kind: 'timed_out' }), timeoutMs);
    const hangUp = hangUpAfterMs === undefined ? undefined : setTimeout(() => end({ kind: 'hung_up' }), hangUpAfterMs);
    req.on('error', (error: NodeJS.ErrnoException) => end({ kind: 'failed', error: error.code ?? error.message }));
    req.end(body);
  });
}

/** GET a JSON document; undefined unless it answered `expected` in time. */
export async function getJson<T>(
  port: number,
  path: string,
  timeoutMs: number,
  expected: readonly number[] = [200],
): Promise<{ status: number; json: T } | undefined> {
  const end = await call({ port, method: 'GET', path, timeoutMs });
  if (end.kind !== 'answered' || !expected.includes(end.status)) return undefined;
  try {
    return { status: end.status, json: JSON.parse(end.body) as T };
  } catch {
    return undefined;
  }
}
