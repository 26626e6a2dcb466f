/**
 * The listening socket and its shutdown. Node's `server.close()` stops
 * accepting and closes idle keep-alive connections, but keeps serving a busy
 * keep-alive client for as long as it sends requests. A drain therefore also
 * needs every response to say `Connection: close` (see Responder), new
 * requests on open connections turned away, and, at the deadline,
 * `closeAllConnections()`.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export class HttpServer {
  private readonly server: Server;
  private isDraining = false;
  private readonly closed: Promise<void>;
  private markClosed!: () => void;

  constructor(handler: RequestListener) {
    this.server = createServer(handler);
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
  }

  get draining(): boolean {
    return this.isDraining;
  }

  /** Listen, and resolve with the address actually bound (PORT=0 picks a free port). */
  listen(host: string, port: number): Promise<URL> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
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
    this.server.closeIdleConnections();
  }

  /**
   * Resolves once every connection has closed. Connections still open after
   * `graceMs` — a client that keeps a socket open without sending — are cut.
   */
  async whenClosed(graceMs: number): Promise<void> {
    this.startDraining();
    // Connections that were busy when draining began may be idle by now.
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
    try {
      await this.closed;
    } finally {
      clearTimeout(timer);
    }
  }
}
