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
