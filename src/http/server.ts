/**
 * The listening socket and its shutdown. Node's `server.close()` stops
 * accepting and closes idle keep-alive connections, but keeps serving a busy
 * keep-alive client for as long as it sends requests, and leaves alone a
 * connection that never sent a request (clients open spare ones). A drain
 * therefore also needs every response to say `Connection: close` (see
 * Responder), new requests on open connections turned away, connections that
 * never carried a request closed, and, at the deadline,
 * `closeAllConnections()`.
 *
 * A hostile or broken client is bounded (see ConnectionLimits): headers and
 * the whole request must arrive in time — Node's request timeout stops
 * counting once a request has fully arrived, so an order may take as long as
 * its own deadline to answer — idle keep-alive connections are closed, and
 * connections are capped twice: beyond `maxConnections` a request is
 * answered 503 and its connection closed (see the app), beyond `hardLimit`,
 * kept under the open-file limit, a new connection is closed as soon as it
 * is accepted, so the process never runs out of descriptors (EMFILE). There
 * is no inactivity timeout on a connection whose request is being answered:
 * that is the order's deadline's job.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { clientErrorHandler } from './client-errors.js';

/** Capped by the kernel (net.core.somaxconn). */
const LISTEN_BACKLOG = 65_535;

export interface ConnectionLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
  readonly hardLimit: number | undefined;
}

/** Connections closed at accept are reported at most this often. */
const DROP_REPORT_INTERVAL_MS = 10_000;

/** How long a connection that has sent nothing is kept once draining begins: long enough for a request already on its way to be read. */
const UNREAD_GRACE_MS = 200;

export class HttpServer {
  private readonly server: Server;
  private isDraining = false;
  private readonly closed: Promise<void>;
  private markClosed!: () => void;

  /** Connections that have not carried a request yet. */
  private readonly unused = new Set<Socket>();
  /** Connections opened while `maxConnections` were open: their requests are refused. */
  private readonly beyondLimit = new WeakSet<Socket>();
  private open = 0;
  private dropped = 0;
  private droppedReportedAt = -Infinity;

  constructor(
    handler: RequestListener,
    private readonly limits: ConnectionLimits,
    private readonly log: Logger,
  ) {
    this.server = createServer(
      {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        // How often the two timeouts above are checked (Node's default, 30 s, would let them overrun by as much).
        connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 10))),
        // A request without Host gets the JSON error contract from the app, not Node's bare text.
        requireHostHeader: false,
      },
      handler,
    );
    if (limits.hardLimit !== undefined) this.server.maxConnections = limits.hardLimit;
    this.server.on('clientError', clientErrorHandler(log, limits));
    this.server.on('drop', () => this.reportDrop());
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.server.on('connection', (socket: Socket) => {
      if (this.isDraining) return void socket.destroy();
      if (this.open >= limits.maxConnections) this.beyondLimit.add(socket);
      this.open++;
      this.unused.add(socket);
      socket.once('close', () => {
        this.open--;
        this.unused.delete(socket);
      });
    });
    this.server.on('request', (req) => this.unused.delete(req.socket));
  }

  /** Whether the connection was opened beyond `maxConnections`. */
  isBeyondLimit(socket: Socket): boolean {
    return this.beyondLimit.has(socket);
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

  private reportDrop(): void {
    this.dropped++;
    const now = performance.now();
    if (now - this.droppedReportedAt < DROP_REPORT_INTERVAL_MS) return;
    this.droppedReportedAt = now;
    this.log.warn({ connections_open: this.open, hard_limit: this.limits.hardLimit, dropped_since_start: this.dropped }, 'connection closed at accept: as many are open as the open-file limit allows');
  }

  private closeIdle(): void {
    this.server.closeIdleConnections();
    // A connection that has sent part of a request is left to finish it: it
    // will be answered 503 like any request that arrives while draining. One
    // that has sent nothing Node has read yet is closed only a moment later:
    // its request may already wait unread in the kernel, and closing it now
    // would reset a client that did nothing wrong.
    for (const socket of this.unused) {
      if (socket.bytesRead > 0) continue;
      setTimeout(() => {
        if (this.unused.has(socket) && socket.bytesRead === 0) socket.destroy();
      }, UNREAD_GRACE_MS).unref();
    }
  }
}
