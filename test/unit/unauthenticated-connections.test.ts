/**
 * The book of connections not yet authenticated (src/http/guards/unauthenticated-connections.ts), and the server making room
 * with it on real sockets: under a flood of one peer, each new connection takes the place of that peer's oldest
 * without a walk over every connection held (before, one walk per new connection from the oldest, stepping over each
 * connection authenticated since the table was last rebuilt).
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpServer } from '../../src/http/server.js';
import { UnauthenticatedConnections } from '../../src/http/guards/unauthenticated-connections.js';
import { mapWalksIn } from '../support/map-walks.js';
import { pause } from '../support/wait.js';

/** Stand-ins: the book only keys by them. */
const sockets = (n: number): Socket[] => Array.from({ length: n }, () => ({}) as Socket);

describe('the book of unauthenticated connections', () => {
  it("gives each peer's oldest, once old enough, never `except`, and passes over those that left", () => {
    const book = new UnauthenticatedConnections();
    const [a1, a2, a3, b1] = sockets(4);
    book.add(a1!, 'a');
    book.add(a2!, 'a');
    book.add(b1!, 'b');
    book.add(a3!, 'a');
    const now = performance.now() + 1;
    expect(book.oldestOf('a', now)).toBe(a1);
    expect(book.oldestOf('a', now, a1)).toBe(a2);
    expect(book.oldestOf('a', 0)).toBeUndefined();
    expect(book.oldestOf('c', now)).toBeUndefined();
    expect({ size: book.size, a: book.countOf('a'), b: book.countOf('b') }).toEqual({ size: 4, a: 3, b: 1 });
    expect(book.busiestPeer()).toBe('a');

    book.remove(a1!);
    book.remove(a1!);
    expect(book.oldestOf('a', now)).toBe(a2);
    book.remove(a2!);
    expect(book.oldestOf('a', now)).toBe(a3);
    expect(book.busiestPeer(a3)).toBe('b');
    book.remove(a3!);
    expect({ size: book.size, a: book.countOf('a'), busiest: book.busiestPeer() }).toEqual({
      size: 1,
      a: 0,
      busiest: 'b',
    });
    expect(book.oldestOf('a', now)).toBeUndefined();
  });

  it('keeps its order through churn: 20,000 connections come and authenticate beside 50 held, none walked', async () => {
    const book = new UnauthenticatedConnections();
    const held = sockets(50);
    for (const socket of held) book.add(socket, 'peer');
    const walks = await mapWalksIn(50, () => {
      for (const socket of sockets(20_000)) {
        book.add(socket, 'peer');
        if (book.oldestOf('peer', Infinity) !== held[0]) throw new Error('the oldest moved');
        book.remove(socket);
      }
      for (let i = 0; i < held.length; i++) {
        expect(book.oldestOf('peer', Infinity)).toBe(held[i]);
        book.remove(held[i]!);
      }
    });
    expect(walks).toBe(0);
    expect(book.size).toBe(0);
  });
});

describe('the server making room for a new connection of a peer at its cap', () => {
  const opened: Socket[] = [];
  afterEach(() => {
    for (const socket of opened.splice(0)) socket.destroy();
  });

  it('closes that peer’s oldest without walking the connections it holds', async () => {
    // Keys mode: unauthenticated connections have a budget; one peer's cap is an eighth of 256, 32.
    const server = new HttpServer(
      (_req, res) => res.end(),
      {
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 30_000,
        keepAliveTimeoutMs: 5000,
        maxConnections: 256,
        hardLimit: undefined,
        budgetUnauthenticated: true,
      },
      pino({ level: 'silent' }),
    );
    const url = await server.listen('127.0.0.1', 0);
    const open = async (n: number): Promise<Socket[]> => {
      const made = await Promise.all(
        Array.from({ length: n }, async () => {
          const socket = connect(Number(url.port), url.hostname);
          socket.on('error', () => {});
          // Read what it is told (a connection giving way is answered 503 first), so that its end comes.
          socket.resume();
          opened.push(socket);
          await once(socket, 'connect');
          return socket;
        }),
      );
      return made;
    };
    try {
      const first = await open(32);
      // Past the grace a slow network gets, the first are fair game.
      await pause(1100);
      const closedFirst = first.map((socket) => once(socket, 'close'));
      const walks = await mapWalksIn(32, async () => {
        await open(32);
        // Each new connection took an old one's place.
        await Promise.all(closedFirst);
      });
      expect(walks).toBe(0);
    } finally {
      for (const socket of opened.splice(0)) socket.destroy();
      await server.whenClosed(0);
    }
  });
});
