/**
 * Raw HTTP for tests that need what fetch will not send: any method with a
 * body, odd headers, bytes that are not valid UTF-8, a reused connection.
 */
import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Each header's values as sent, one a line: `headers` joins a header sent twice into one. Absent: not read. */
  readonly headersDistinct?: NodeJS.Dict<string[]>;
  readonly text: string;
  json(): unknown;
}

export interface RawRequest {
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  readonly agent?: Agent;
}

export function rawRequest(
  base: URL,
  { method = 'POST', path = '/order', headers = {}, body, agent }: RawRequest,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // Node's client sends a DELETE or GET body without framing unless told
    // its length, and the stray bytes would corrupt the next request on the
    // connection: always say it.
    const framed = body === undefined ? headers : { 'content-length': String(Buffer.byteLength(body)), ...headers };
    const req = httpRequest(new URL(path, base), { method, headers: framed, ...(agent ? { agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          headersDistinct: res.headersDistinct,
          text,
          json: () => JSON.parse(text) as unknown,
        });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** An order's answer as sent: its status, its text, and whether it was a replay (`Idempotent-Replayed`). */
export interface OrderAnswerText {
  readonly status: number;
  readonly text: string;
  readonly replayed: string | null;
}

/** POST /order with `body` as JSON, answered as sent. */
export async function postOrder(base: URL, body: unknown, signal?: AbortSignal): Promise<OrderAnswerText> {
  const response = await fetch(new URL('/order', base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
  return {
    status: response.status,
    text: await response.text(),
    replayed: response.headers.get('idempotent-replayed'),
  };
}

/** Times a request turned away with Retry-After is asked again, at most: as a client following the header would. */
const READS_ASKED_AGAIN = 5;

/**
 * GET `url` as a well-behaved client does: a read the service turned away for a while (503 with Retry-After, as it
 * does while its main thread is behind on its orders, or its store is busy) is asked again after the time it names, a
 * few times at most.
 */
export async function readFollowingRetryAfter(url: URL, init?: RequestInit): Promise<Response> {
  return followingRetryAfter(
    () => fetch(url, init),
    (response) => response.headers.get('retry-after'),
    (response) => response.arrayBuffer(),
  );
}

/** rawRequest's answer, asked again as readFollowingRetryAfter asks. */
export async function rawRequestFollowingRetryAfter(base: URL, request: RawRequest): Promise<RawResponse> {
  return followingRetryAfter(
    () => rawRequest(base, request),
    (response) => {
      const after = response.headers['retry-after'];
      return typeof after === 'string' ? after : null;
    },
  );
}

/** `ask` again after the time a 503 with Retry-After names, READS_ASKED_AGAIN times at most: as a client following it. */
export async function followingRetryAfter<T extends { readonly status: number }>(
  ask: () => Promise<T>,
  retryAfter: (answer: T) => string | null,
  discard: (answer: T) => Promise<unknown> = async () => {},
): Promise<T> {
  for (let asked = 1; ; asked++) {
    const answer = await ask();
    const after = retryAfter(answer);
    if (answer.status !== 503 || after === null || asked > READS_ASKED_AGAIN) return answer;
    await discard(answer);
    await new Promise((resolve) => setTimeout(resolve, Number(after) * 1000));
  }
}
