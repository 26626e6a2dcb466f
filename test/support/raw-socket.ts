/**
 * A TCP client that speaks whatever it is told, when it is told: for what no
 * HTTP client sends — a request that is not HTTP, headers that trickle in,
 * a body that never ends, a connection that says nothing.
 */
import { connect, type Socket } from 'node:net';

export interface Conversation {
  readonly socket: Socket;
  /** Everything the server sent so far. */
  reply(): string;
  /** Resolves when the server has ended its side (FIN) or the connection closed, with the ms since connecting. */
  readonly ended: Promise<number>;
  /** Resolves when the connection has closed, with the ms since connecting. */
  readonly closed: Promise<number>;
  /** Write, unless the connection is gone; resolves false if it is. */
  send(data: string | Buffer): Promise<boolean>;
}

export async function converse(url: URL): Promise<Conversation> {
  const socket = connect(Number(url.port), url.hostname);
  const started = performance.now();
  let reply = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (reply += chunk));
  // A server that closes on a client still writing resets the connection: that is an outcome, not a failure.
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now() - started)));
  const ended = Promise.race([
    new Promise<number>((resolve) => socket.once('end', () => resolve(performance.now() - started))),
    closed,
  ]);
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('close', reject);
  });
  return {
    socket,
    reply: () => reply,
    ended,
    closed,
    send: (data) =>
      new Promise((resolve) => {
        if (socket.destroyed || !socket.writable) return resolve(false);
        socket.write(data, (error) => resolve(!error));
      }),
  };
}

/** The status, headers (lower-cased names) and body of the first response in `reply`. */
export function parseReply(reply: string): { status: number; headers: Record<string, string>; body: string } {
  const end = reply.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = reply.slice(0, end === -1 ? reply.length : end).split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
    }),
  );
  const length = Number(headers['content-length'] ?? 0);
  return {
    status: Number(statusLine.split(' ')[1]),
    headers,
    body: end === -1 ? '' : reply.slice(end + 4, end + 4 + length),
  };
}

/**
 * POST `body` (JSON) to `path` on a connection of its own, closed after the answer: for thousands of requests at
 * once from the test's own process, where fetch's machinery per request takes more of the two cores than the server
 * spends answering, and its arrivals would then trail behind the steps they are meant to pile up (a race with the
 * CPU in the test, not in the service). Written as soon as the socket connects; rejects only if no whole answer came.
 */
export function postOnce(
  url: URL,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; ms: number }> {
  const sent = performance.now();
  const payload = Buffer.from(JSON.stringify(body));
  const head = Object.entries({
    host: url.host,
    'content-type': 'application/json',
    'content-length': String(payload.length),
    connection: 'close',
    ...headers,
  })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    let failure: Error | undefined;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => (failure ??= error));
    socket.once('close', () => {
      const answer = parseReply(Buffer.concat(chunks).toString('utf8'));
      if (!(answer.status > 0) || Buffer.byteLength(answer.body) < Number(answer.headers['content-length'] ?? 0))
        return reject(failure ?? new Error(`POST ${path}: closed without a whole answer`));
      resolve({ status: answer.status, body: answer.body, ms: performance.now() - sent });
    });
    socket.write(Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\n${head}\r\n`), payload]));
  });
}
