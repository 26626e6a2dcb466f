/**
 * The authenticated connections, by client: each client's share
 * of MAX_CONNECTIONS, by the one share rule (src/fairness/held-shares.ts —
 * floors by CLIENT_WEIGHTS, a newcomer's kept). A connection is a client's
 * from the first request on it that names the client's key. A client may
 * hold more than its share while nobody else asks; once the service is full
 * and another client's request arrives on a connection beyond the limit, a
 * connection of the client holding the most beyond its share gives way —
 * one with no request being answered (idle, or its request still arriving),
 * never one whose order runs. So a keyed client whose sockets trickle their
 * bodies, or sit idle, cannot hold every connection (before: another
 * client's orders were 0 of 110 served).
 */
import type { Socket } from 'node:net';
import { NEWCOMER_WEIGHT, turnOrder } from '../../fairness/fair-share.js';
import { HeldShares } from '../../fairness/held-shares.js';

export class ClientConnections {
  private readonly clientOf = new Map<Socket, string>();
  /** Each client's connections, oldest first (a Set keeps the order they came in). */
  private readonly socketsOf = new Map<string, Set<Socket>>();
  private readonly shares: HeldShares;

  constructor(
    capacity: number,
    private readonly weights: ReadonlyMap<string, number>,
  ) {
    this.shares = new HeldShares(capacity, weights);
  }

  /** A request on `socket` named `client`'s key: the connection is the client's (its first client's, if several). */
  add(socket: Socket, client: string): void {
    if (this.clientOf.has(socket)) return;
    this.clientOf.set(socket, client);
    let sockets = this.socketsOf.get(client);
    if (!sockets) this.socketsOf.set(client, (sockets = new Set()));
    sockets.add(socket);
    this.shares.hold(client);
  }

  /** The connection closed, or gave way. */
  remove(socket: Socket): void {
    const client = this.clientOf.get(socket);
    if (client === undefined) return;
    this.clientOf.delete(socket);
    const sockets = this.socketsOf.get(client)!;
    sockets.delete(socket);
    if (sockets.size === 0) this.socketsOf.delete(client);
    this.shares.give(client);
  }

  /**
   * For a connection of `client`'s beyond the limit: a connection that may give way (`yields`) of the client holding
   * the most per unit of its weight beyond its share — if `client`'s own share has room for one more, and anyone is
   * beyond theirs.
   */
  toGiveWayFor(client: string, yields: (socket: Socket) => boolean): Socket | undefined {
    if (!this.shares.fits(client)) return undefined;
    const { shares } = this;
    const beyond = [...this.socketsOf.keys()]
      .filter((other) => other !== client && shares.heldOf(other) > shares.room(other))
      // The most per unit of weight first: the reverse of the turn order.
      .sort((a, b) => turnOrder(shares.heldOf(b), this.weightOf(b), shares.heldOf(a), this.weightOf(a)));
    for (const other of beyond) for (const socket of this.socketsOf.get(other)!) if (yields(socket)) return socket;
    return undefined;
  }

  private weightOf(client: string): number {
    return this.weights.get(client) ?? NEWCOMER_WEIGHT;
  }
}
