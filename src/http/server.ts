/**
 * The listening socket and its shutdown. Node's `server.close()` stops
 * accepting and closes every connection it deems idle at once — one between
 * requests, and one that has not sent a request yet — but keeps serving a
 * busy keep-alive client for as long as it sends requests. Closing an "idle"
 * connection at once resets a client whose request is already on its way,
 * unread in the kernel's buffer. So a drain here closes idle connections
 * itself, each only once it has stayed silent for a moment; every response
 * says `Connection: close` (see Responder), new requests on open connections
 * are turned away, and at the deadline the rest are cut — all but those
 * answering a request that has fully arrived: the drain ends the runs
 * before it closes the server, so their answers are due within a few turns,
 * and cutting them reset clients whose orders had ended (on a busy machine
 * the time left for the close could be 0 ms). The process's own exit timer
 * bounds a client that does not read its answer.
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
 *
 * Connections are counted before any key is checked, so those that have not
 * yet been authenticated — by a request that names a known key: a probe,
 * which needs none, grants no standing (sockets that each sent
 * `GET /healthz` then trickled held every slot) — have a budget
 * of their own: at most half of `maxConnections` together, and an
 * eighth from any one peer address. A connection beyond either bound, or
 * beyond `maxConnections`, takes the place of the oldest unauthenticated
 * connection of its own peer if that peer is at its cap, else of the peer
 * holding the most — one at least a second old (the grace a slow network gets): a socket that trickles its
 * headers loses its slot as soon as anyone needs it, not when
 * HEADERS_TIMEOUT_MS runs out, and a keyed client finds room.
 *
 * Authenticated connections have a share per client (client-connections.ts):
 * a request beyond `maxConnections` whose key names a client within its
 * share takes the place of a connection of the client holding the most
 * beyond its own — one with no request being answered. And once a request's
 * headers are in, its body must keep coming (guards/slow-bodies.ts), else it
 * is answered 408 and its connection closed: a key
 * no longer lets a socket that trickles its body hold a connection for
 * REQUEST_TIMEOUT_MS (a keyed client's slow bodies left another
 * client 0 of 110 served).
 */
import cluster from 'node:cluster';
import { Server, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { Server as NetServer, type AddressInfo, type ListenOptions, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { BODY_TOO_SLOW, clientErrorHandler } from './client-errors.js';
import { SlowBodies } from './guards/slow-bodies.js';
import type { MessageClasses } from './express-messages.js';
import { UnauthenticatedConnections } from './guards/unauthenticated-connections.js';
import { ClientConnections } from './guards/client-connections.js';
import { refuseListenedPort, strangersListeningOn } from './port-ownership.js';
import type { LateReads } from './guards/late-reads.js';
import { rawRefusal } from './wire/raw-answer.js';
import { TOO_MANY_CONNECTIONS } from './wire/refusal-answers.js';

/** Capped by the kernel (net.core.somaxconn). */
const LISTEN_BACKLOG = 65_535;

/**
 * Listening sockets on the one port, where the process owns its sockets (Linux's SO_REUSEPORT): the kernel deals new
 * connections out among them, and each has an accept queue of its own, as deep as net.core.somaxconn (4,096 here).
 * With one, 15,000 reads connecting within a second overflowed it while the event loop was busy (58,319 final ACKs
 * dropped), the kernel gave up on hundreds of half-open connections, and reset them as their requests arrived (698
 * reads reset before any answer, one for one with SyncookiesFailed). Four queues hold 16,384.
 */
const LISTENERS = 4;

export interface ConnectionLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
  readonly hardLimit: number | undefined;
  /**
   * Whether connections not yet authenticated have a budget of their own (half of `maxConnections`, an eighth per
   * peer). Not in open mode: every caller is the one anonymous client, so there is no keyed client to leave room for,
   * and a burst of connections whose requests wait behind a busy event loop was closed for looking silent (the load
   * suite's `wide`: 727 of 10,000 answered 503). There, only `maxConnections` makes a silent connection give way.
   */
  readonly budgetUnauthenticated?: boolean;
  /** CLIENT_WEIGHTS: each client's share of the connections (client-connections.ts); without, every client weighs 1. */
  readonly clientWeights?: ReadonlyMap<string, number>;
}

/** The share of `maxConnections` that connections not yet authenticated may hold together, and from one peer. */
const UNAUTHENTICATED_SHARE = 1 / 2;
const UNAUTHENTICATED_PEER_SHARE = 1 / 8;
/**
 * An unauthenticated connection younger than this is never closed to make room: a client on a slow network has this
 * long to send a request's headers whatever the load; past it, a connection still without a key is fair game.
 */
const UNAUTHENTICATED_GRACE_MS = 1000;

/**
 * What a connection closed to make room is told, before it closes: a client whose request was already on its way (a
 * burst of thousands, queued in the kernel behind the event loop) reads an answer it can retry on, not a reset.
 */
const GIVE_WAY_ANSWER = rawRefusal(TOO_MANY_CONNECTIONS);
/** How long a connection that was told to give way may linger for that answer to be read, before it is cut. */
const GIVE_WAY_LINGER_MS = 1000;

/** Connections closed at accept are reported at most this often. */
const DROP_REPORT_INTERVAL_MS = 10_000;

/**
 * How long an idle connection is kept once draining begins: long enough for a request already on its way to be read.
 */
const UNREAD_GRACE_MS = 200;

/**
 * Node's server, but its idle connections are closed by the drain's rule
 * (`closeIdle`): `close()` calls `closeIdleConnections()`, which since Node
 * 22 also destroys a connection that has not sent a request yet — at once,
 * resetting a request already in flight.
 */
class DrainingServer extends Server {
  closeIdle: () => void = () => {};
  override closeIdleConnections(): void {
    this.closeIdle();
  }
}

export class HttpServer {
  private readonly server: DrainingServer;
  /** The other sockets listening on the port, beside the server's own (LISTENERS). */
  private readonly listeners: NetServer[] = [];
  private isDraining = false;
  private readonly closed: Promise<void>;
  private markClosed!: () => void;

  /** Open connections, and how many requests each has being answered. */
  private readonly answering = new Map<Socket, number>();
  /**
   * The requests being answered on each connection: the one, or a set of them while a client pipelines. A set for
   * every connection held ~0.3 KB an order in flight when each has a connection of its own.
   */
  private readonly requestsOf = new WeakMap<Socket, IncomingMessage | Set<IncomingMessage>>();
  /** Connections opened while `maxConnections` were open: their requests are refused. */
  private readonly beyondLimit = new WeakSet<Socket>();
  /** Connections closed to make room: already answered 503, so a request read on one afterwards is never run. */
  private readonly gaveWay = new WeakSet<Socket>();
  private readonly unauthenticated = new UnauthenticatedConnections();
  private readonly clients: ClientConnections;
  // As Node tells a request timeout: the clientError handler answers it through its response, and closes.
  private readonly slowBodies = new SlowBodies((socket) =>
    this.server.emit('clientError', Object.assign(new Error('body too slow'), { code: BODY_TOO_SLOW }), socket),
  );
  private readonly unauthenticatedBudget: number;
  private readonly unauthenticatedPeerCap: number;
  private open = 0;
  private dropped = 0;
  private droppedReportedAt = -Infinity;

  constructor(
    handler: RequestListener,
    private readonly limits: ConnectionLimits,
    private readonly log: Logger,
    /** The classes its requests and responses are made of; without: Node's own. */
    messages?: MessageClasses,
    /** Reads held back or refused before the app while the main thread runs late; without: all reach the app. */
    private readonly lateReads?: LateReads,
  ) {
    this.server = new DrainingServer(
      {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        // How often the two timeouts above are checked (Node's default, 30 s, would let them overrun by as much).
        connectionsCheckingInterval: Math.min(
          1000,
          Math.max(10, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 10)),
        ),
        // A request without Host gets the JSON error contract from the app, not Node's bare text.
        requireHostHeader: false,
        ...messages,
      },
      (req, res) => {
        if (this.gaveWay.has(req.socket)) return void req.socket.destroy();
        const refusal = lateReads?.arrived(req, this.answering);
        if (refusal === undefined) void handler(req, res);
        else this.refuse(req.socket, refusal);
      },
    );
    const budgeted = limits.budgetUnauthenticated !== false;
    this.unauthenticatedBudget = budgeted
      ? Math.max(1, Math.floor(limits.maxConnections * UNAUTHENTICATED_SHARE))
      : Infinity;
    this.unauthenticatedPeerCap = budgeted
      ? Math.max(1, Math.floor(limits.maxConnections * UNAUTHENTICATED_PEER_SHARE))
      : Infinity;
    this.clients = new ClientConnections(limits.maxConnections, limits.clientWeights ?? new Map());
    this.server.closeIdle = () => this.closeIdle();
    this.server.on('clientError', clientErrorHandler(log, limits));
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    void this.closed.then(() => this.slowBodies.close());
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the listeners' own `this` is the socket or response
    const server = this;
    this.server.on('connection', (socket: Socket) => {
      if (this.isDraining) return void socket.destroy();
      // Counted across every listening socket, so kept as connections come, in the turn they are accepted in.
      if (limits.hardLimit !== undefined && this.open >= limits.hardLimit) {
        socket.destroy();
        return void this.reportDrop();
      }
      this.makeRoomFor(socket.remoteAddress ?? '');
      if (this.open >= limits.maxConnections) this.beyondLimit.add(socket);
      this.open++;
      this.answering.set(socket, 0);
      this.unauthenticated.add(socket, socket.remoteAddress ?? '');
      socket.on('close', connectionClosed);
      lateReads?.accepted(socket);
    });
    // One listener for every connection (its `this` is the socket), not a closure wrapped by `once` in another.
    function connectionClosed(this: Socket): void {
      server.forget(this);
    }
    // One listener for every response of this server (its `this` is the response): not a closure, wrapped by `once`
    // in another, for each request.
    const { answering, requestsOf, slowBodies } = this;
    this.server.on('request', (req, res) => {
      const socket = req.socket;
      if (this.gaveWay.has(socket)) return;
      slowBodies.watch(req);
      answering.set(socket, (answering.get(socket) ?? 0) + 1);
      const requests = requestsOf.get(socket);
      if (requests === undefined) requestsOf.set(socket, req);
      else if (requests instanceof Set) requests.add(req);
      else requestsOf.set(socket, new Set([requests, req]));
      res.on('close', responseClosed);
    });
    function responseClosed(this: ServerResponse): void {
      server.requestClosed(this.req);
    }
  }

  /** A response closed: its request is no longer being answered. */
  private requestClosed(req: IncomingMessage): void {
    this.slowBodies.answered(req);
    const socket = req.socket;
    const requests = this.requestsOf.get(socket);
    if (requests === req) this.requestsOf.delete(socket);
    else if (requests instanceof Set) requests.delete(req);
    const left = (this.answering.get(socket) ?? 1) - 1;
    if (this.answering.has(socket)) this.answering.set(socket, left);
    if (left === 0 && this.isDraining) this.closeWhenSilent(socket);
  }

  /** A request on `socket` named `client`'s key (or the service is open): it leaves the unauthenticated budget. */
  authenticated(socket: Socket, client: string): void {
    this.unauthenticated.remove(socket);
    this.clients.add(socket, client);
  }

  private forget(socket: Socket): void {
    this.unauthenticated.remove(socket);
    this.clients.remove(socket);
    if (this.answering.delete(socket)) this.open--;
  }

  /** Before a connection from `peer` is counted: the oldest unauthenticated ones give way while a bound is reached. */
  private makeRoomFor(peer: string): void {
    while (this.unauthenticated.countOf(peer) >= this.unauthenticatedPeerCap && this.evictOldest(peer));
    while (
      (this.unauthenticated.size >= this.unauthenticatedBudget || this.open >= this.limits.maxConnections) &&
      this.evictOldest(this.unauthenticated.busiestPeer())
    );
  }

  /** Whether one of `peer`'s unauthenticated connections (not `except`) was at least `graceMs` old, and closed. */
  private evictOldest(peer: string | undefined, graceMs = UNAUTHENTICATED_GRACE_MS, except?: Socket): boolean {
    if (peer === undefined) return false;
    const oldest = this.unauthenticated.oldestOf(peer, performance.now() - graceMs, except);
    if (oldest === undefined) return false;
    this.giveWay(oldest);
    return true;
  }

  /**
   * Close a connection to make room, answering it 503 overloaded first: its slot is free at once, and nothing read on
   * it afterwards is run (the client has its answer); the socket itself lingers a moment for that answer to be read.
   */
  private giveWay(socket: Socket): void {
    this.forget(socket);
    this.gaveWay.add(socket);
    socket.end(GIVE_WAY_ANSWER);
    setTimeout(() => socket.destroy(), GIVE_WAY_LINGER_MS).unref();
  }

  /** Answer a whole request with `answer`'s bytes, before the app, and close: nothing else read on it is run. */
  private refuse(socket: Socket, answer: Buffer | string): void {
    this.forget(socket);
    this.gaveWay.add(socket);
    socket.end(answer);
    socket.destroySoon();
  }

  /**
   * Whether the connection was opened beyond `maxConnections` and still is: a request on it takes the place of an
   * unauthenticated connection still without one, if any is open (whatever its age), or else, if its key names a
   * client (`client`) within its share, of a connection of the client most beyond its own — before it is refused.
   */
  isBeyondLimit(socket: Socket, client: () => string | undefined = () => undefined): boolean {
    if (!this.beyondLimit.has(socket)) return false;
    if (!this.evictOldest(this.unauthenticated.busiestPeer(socket), 0, socket)) {
      const caller = client();
      const other = caller === undefined ? undefined : this.clients.toGiveWayFor(caller, (s) => this.mayGiveWay(s));
      if (other === undefined || other === socket) return true;
      this.giveWay(other);
    }
    this.beyondLimit.delete(socket);
    return false;
  }

  /** Whether a connection may give way to make room: nothing on it is being answered that had arrived whole. */
  private mayGiveWay(socket: Socket): boolean {
    if (this.gaveWay.has(socket) || socket.destroyed) return false;
    const requests = this.requestsOf.get(socket);
    if (requests === undefined) return true;
    if (requests instanceof Set) return [...requests].every((req) => !req.complete);
    return !requests.complete;
  }

  get draining(): boolean {
    return this.isDraining;
  }

  /** Requests the body sweep watches: an answered one only while its body is still to come. */
  get requestsArriving(): number {
    return this.slowBodies.size;
  }

  /**
   * Listen, and resolve with the address actually bound (PORT=0 picks a free
   * port). The accept backlog is as deep as the kernel allows (Node's default
   * is 511): a burst of thousands of clients connecting at once otherwise
   * waits out TCP's SYN retries, seconds each. `exclusive`: a socket of this
   * process's own even in a cluster worker, whose listens are otherwise the
   * primary's, shared by every worker (port 0 included: one port for all).
   *
   * The listeners that share the port share it with this process alone (port-ownership.ts): a port where any socket
   * listens already, or where another process's sockets are found beside ours once bound, is refused EADDRINUSE, as
   * a port another program holds is (start-failure.ts).
   */
  async listen(host: string, port: number, { exclusive = false }: { exclusive?: boolean } = {}): Promise<URL> {
    // A cluster worker's listen is the primary's socket, shared by every worker: no port of its own to fan out.
    const fanOut = process.platform === 'linux' && (exclusive || !cluster.isWorker);
    const options: ListenOptions = { host, backlog: LISTEN_BACKLOG, exclusive, ...(fanOut ? { reusePort: true } : {}) };
    const parts = fanOut ? LISTENERS : 1;
    if (fanOut) await refuseListenedPort(host, port);
    await listening(this.server, { ...options, port });
    const { address, port: bound } = this.server.address() as AddressInfo;
    for (let n = 1; n < parts; n++) {
      // Handed to the HTTP server as its own connections are: counted, limited and drained alike.
      const extra = new NetServer((socket) => this.server.emit('connection', socket));
      this.listeners.push(extra);
      await listening(extra, { ...options, port: bound, exclusive: true });
    }
    // A copy of the service that started at the same instant may have passed the look above before we bound.
    if (fanOut && ((await strangersListeningOn(bound)) ?? 0) > 0) {
      for (const server of [this.server, ...this.listeners]) server.close();
      throw addressInUse(address, bound);
    }
    return new URL(`http://${address.includes(':') ? `[${address}]` : address}:${bound}`);
  }

  /** Stop accepting connections and start closing those that stay idle. */
  startDraining(): void {
    if (this.isDraining) return;
    this.isDraining = true;
    this.lateReads?.resumeAll();
    // Each listening socket closes once the connections it accepted have: the server is closed once all have.
    const listening = [this.server, ...this.listeners].filter((server) => server.listening);
    let left = listening.length;
    if (left === 0) this.markClosed();
    for (const server of listening) server.close(() => --left === 0 && this.markClosed());
    this.closeIdle();
  }

  /**
   * Resolves once every connection has closed. Connections still open after
   * `graceMs` — a client that keeps a socket open without sending, or one
   * still sending its request — are cut; one whose request has arrived is
   * left to be answered (see the top comment).
   */
  async whenClosed(graceMs: number): Promise<void> {
    this.startDraining();
    // Connections that were busy when draining began may be idle by now.
    this.closeIdle();
    const timer = setTimeout(() => this.cutUnanswered(), graceMs);
    try {
      await this.closed;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Every connection but those with a fully arrived request being answered. */
  private cutUnanswered(): void {
    for (const socket of this.answering.keys()) {
      const requests = this.requestsOf.get(socket);
      const complete = requests instanceof Set ? [...requests].some((req) => req.complete) : requests?.complete;
      if (!complete) socket.destroy();
    }
  }

  private reportDrop(): void {
    this.dropped++;
    const now = performance.now();
    if (now - this.droppedReportedAt < DROP_REPORT_INTERVAL_MS) return;
    this.droppedReportedAt = now;
    this.log.warn(
      { connections_open: this.open, hard_limit: this.limits.hardLimit, dropped_since_start: this.dropped },
      'connection closed at accept: as many are open as the open-file limit allows',
    );
  }

  /** Every connection with no request being answered is closed once it has stayed silent for UNREAD_GRACE_MS. */
  private closeIdle(): void {
    for (const [socket, requests] of this.answering) if (requests === 0) this.closeWhenSilent(socket);
  }

  /**
   * Close an idle connection a moment from now, unless it has sent something
   * meanwhile: a request may already wait unread in the kernel, and closing
   * now would reset a client that did nothing wrong. A request that does
   * arrive is answered 503 shutting_down with `Connection: close`; one only
   * partly sent is left to finish, under the request timeout.
   */
  private closeWhenSilent(socket: Socket): void {
    const seen = socket.bytesRead;
    setTimeout(() => {
      if (this.answering.get(socket) === 0 && socket.bytesRead === seen) socket.destroy();
    }, UNREAD_GRACE_MS).unref();
  }
}

/** `server` listening as `options` say; resolves with it, rejects with the error that stopped it. */
function listening<S extends NetServer>(server: S, options: ListenOptions): Promise<S> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** As Node says a port is taken: what start-failure.ts turns into the one line and the exit code. */
function addressInUse(address: string, port: number): Error {
  return Object.assign(
    new Error(`listen EADDRINUSE: address already in use ${address}:${port}, by sockets of another process`),
    { code: 'EADDRINUSE', syscall: 'listen', address, port },
  );
}
