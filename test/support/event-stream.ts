/**
 * A Server-Sent Events client, for the tests: every
 * `data:` message of a stream, parsed as JSON, with when it arrived; waiting
 * for one that matches; and whether the server ended the stream.
 */
import { request, type IncomingHttpHeaders } from 'node:http';

export interface Frame<T> {
  readonly at: number;
  readonly data: T;
}

export interface EventStream<T> {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Every message so far, oldest first. */
  readonly frames: ReadonlyArray<Frame<T>>;
  /** The first message, from now on, for which `match` holds; rejects after `within` ms. */
  next(match?: (data: T) => boolean, within?: number): Promise<T>;
  /** Resolves when the server has ended the stream (or the connection closed). */
  readonly ended: Promise<void>;
  /** Leave, as a page closed by its reader does. */
  close(): void;
}

/** `headers`: sent besides Accept (an Authorization, say). */
export function openEventStream<T>(url: URL, headers: Record<string, string> = {}): Promise<EventStream<T>> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const frames: Array<Frame<T>> = [];
      const waiters = new Set<(frame: Frame<T>) => void>();
      let buffer = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = message
            .split('\n')
            .filter((line) => line.startsWith('data: '))
            .map((line) => line.slice(6))
            .join('\n');
          if (!data) continue;
          const frame = { at: performance.now(), data: JSON.parse(data) as T };
          frames.push(frame);
          for (const waiter of waiters) waiter(frame);
        }
      });
      const ended = new Promise<void>((done) => {
        res.once('end', done);
        res.once('close', done);
      });
      res.on('error', () => {});
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        frames,
        ended,
        close: () => req.destroy(),
        next: (match = () => true, within = 5000) =>
          new Promise((found, fail) => {
            const timer = setTimeout(() => {
              waiters.delete(look);
              const last = frames.at(-1);
              fail(new Error(`no matching message within ${within} ms; the last: ${JSON.stringify(last?.data)}`));
            }, within);
            const look = (frame: Frame<T>): void => {
              if (!match(frame.data)) return;
              clearTimeout(timer);
              waiters.delete(look);
              found(frame.data);
            };
            waiters.add(look);
          }),
      });
    });
    req.on('error', reject);
    req.end();
  });
}
