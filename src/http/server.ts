/**
 * The listening socket and its shutdown. Node's `server.close()` stops
 * accepting and closes idle keep-alive connections, but keeps serving a busy
 * keep-alive client for as long as it sends requests, and leaves alone a
 * connection that never sent a request (clients open spare ones). A drain
 * therefore also needs every response to say `Connection: close` (see
 * Responder), new requests on open connections turned away, connections that
 * never carried a request closed, and, at the deadline,
 * `closeAllConnections()`.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** Capped by the kernel (net.core.somaxconn). */
const LISTEN_BACKLOG = 65_535;

export class HttpServer {
  private readonly server: Server;
  private isDraining = false;
  private readonly closed: Promise<void>;
  private markClosed!: () => void;

  /** Connections that have not carried a request yet. */
  private readonly unused = new Set<Socket>();

  constructor(handler: RequestListener) {
    this.server = createServer(handler);
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.server.on('connection', (socket: Socket) => {
      if (this.isDraining) return void socket.destroy();
      this.unused.add(socket);
      socket.once('close', () => this.unused.delete(socket));
    });
    this.server.on('request', (req) => this.unused.delete(req.socket));
  }

  get draining(): boolean {
    return this.isDraining;
  }

  /**
   * Listen, and resolve with the address actually bound (PORT=0 picks a free
   * port). The accept backlog is as deep as the kernel allows (Node's default
   * is 511): a burst of thousands of clients connecting at once otherwise
   * waits out TCP's SYN retries, seconds each.
   */
  listen(host: string, port: number): Promise<URL> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
        this.server.off('error', reject);
        const { address, port: bound } = this.server.address() as AddressInfo;
        resolve(new URL(`http://${address.includes(':') ? `[${address}]` : address}:${bound}`));
      });
    });
  }

  /** Stop accepting connections and start closing those that stay idle. */
  startDraining(): void {
    if (this.isDraining) return;
    this.isDraining = true;
    if (this.server.listening) this.server.close(() => this.markClosed());
    else this.markClosed();
    this.closeIdle();
  }

  /**
   * Resolves once every connection has closed. Connections still open after
   * `graceMs` — a client that keeps a socket open without sending — are cut.
   */
  async whenClosed(graceMs: number): Promise<void> {
    this.startDraining();
    // Connections that were busy when draining began may be idle by now.
    this.closeIdle();
    const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
    try {
      await this.closed;
    } finally {
      clearTimeout(timer);
    }
  }

  private closeIdle(): void {
    this.server.closeIdleConnections();
    // A connection that has sent part of a request is left to finish it: it
    // will be answered 503 like any request that arrives while draining.
    for (const socket of this.unused) if (socket.bytesRead === 0) socket.destroy();
  }
}
