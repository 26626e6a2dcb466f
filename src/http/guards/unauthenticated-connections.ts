/**
 * The connections not yet authenticated (server.ts says what that budget is
 * for): how many in all and from each peer, and each peer's oldest.
 *
 * Each peer's connections wait in a line of their own, oldest first; one
 * that authenticates or closes leaves the book at once and its place in the
 * line is passed over later. So finding the connection to close under a
 * flood takes a look at the front of one line, not a walk over every
 * connection from the oldest: the walk also stepped over each connection
 * authenticated since the table was last rebuilt, and came once per new
 * connection while the budget was spent.
 */
import type { Socket } from 'node:net';
import { frontWorthCompacting } from '../../queue-compaction.js';

interface Held {
  readonly line: PeerLine;
  /** When it opened (performance.now()). */
  readonly at: number;
}

/** One peer's connections, oldest first; those no longer held are passed over and cut away in bulk. */
class PeerLine {
  /** Before `head`: dropped. */
  sockets: Array<Socket | undefined> = [];
  head = 0;
  /** Its connections still held. */
  held = 0;

  constructor(readonly peer: string) {}

  /** Moves its front past the entries no longer held (each passed once), and cuts them away in bulk. */
  dropFrontPassedOver(held: ReadonlyMap<Socket, unknown>): void {
    const { sockets } = this;
    while (this.head < sockets.length && !held.has(sockets[this.head]!)) sockets[this.head++] = undefined;
    if (frontWorthCompacting(this.head, sockets.length)) {
      sockets.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Entries left behind (authenticated or closed) beyond the front: worth a rebuild once they outnumber the held. */
  get passedOver(): number {
    return this.sockets.length - this.head - this.held;
  }
}

export class UnauthenticatedConnections {
  private readonly held = new Map<Socket, Held>();
  private readonly lines = new Map<string, PeerLine>();

  get size(): number {
    return this.held.size;
  }

  countOf(peer: string): number {
    return this.lines.get(peer)?.held ?? 0;
  }

  add(socket: Socket, peer: string): void {
    let line = this.lines.get(peer);
    if (!line) this.lines.set(peer, (line = new PeerLine(peer)));
    line.sockets.push(socket);
    line.held++;
    this.held.set(socket, { line, at: performance.now() });
  }

  /** It authenticated, closed or gave way: out of the budget. */
  remove(socket: Socket): void {
    const entry = this.held.get(socket);
    if (!entry) return;
    this.held.delete(socket);
    const { line } = entry;
    if (--line.held === 0) {
      this.lines.delete(line.peer);
      return;
    }
    if (line.passedOver > line.held && line.passedOver > 64) this.rebuild(line);
  }

  /** The peer holding the most (`except` not counted). */
  busiestPeer(except?: Socket): string | undefined {
    const excepted = except && this.held.get(except)?.line;
    let busiest: string | undefined;
    let most = 0;
    for (const line of this.lines.values()) {
      const count = line === excepted ? line.held - 1 : line.held;
      if (count > most) {
        busiest = line.peer;
        most = count;
      }
    }
    return busiest;
  }

  /** `peer`'s oldest connection (not `except`), if it opened before `bornBefore`. */
  oldestOf(peer: string, bornBefore: number, except?: Socket): Socket | undefined {
    const line = this.lines.get(peer);
    if (!line) return undefined;
    line.dropFrontPassedOver(this.held);
    const { sockets } = line;
    for (let i = line.head; i < sockets.length; i++) {
      const socket = sockets[i]!;
      const entry = this.held.get(socket);
      if (entry === undefined) continue;
      // Oldest first: once one is too young, all the rest are.
      if (entry.at > bornBefore) return undefined;
      if (socket !== except) return socket;
    }
    return undefined;
  }

  private rebuild(line: PeerLine): void {
    line.sockets = line.sockets.slice(line.head).filter((socket) => socket !== undefined && this.held.has(socket));
    line.head = 0;
  }
}
