/**
 * A flood sent from a process of its own (./flood-process.ts), as from another machine: its fetches, and the parsing of
 * its thousands of answers, keep another process busy than the one that measures the victim — and, in the tests, than
 * the service's event loop, which a flood sent from the test's own process would share, and slow down to what that
 * loop leaves it.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { compiledModule, pathOf } from '../../src/paths.js';

/** What a flooding client got: answers, 200s, and 503 overloaded with Retry-After naming `tier`, if one is named. */
export interface FloodFigures {
  readonly orders: number;
  readonly ok: number;
  readonly shedNamingTier: number;
  readonly shedMessage: string | undefined;
}

/** What the flood's process is told: who sends, on how many connections, for how long, how fast, which order. */
export interface FloodOrders {
  readonly url: string;
  readonly key?: string;
  readonly connections: number;
  readonly ms: number;
  /** The tier its 503s should name ('' for none). */
  readonly tier: string;
  /** Orders a second at most, all connections together; 0: uncapped. */
  readonly perSecond: number;
  /** Each order's fields, beside a fresh order_id. */
  readonly fields: Record<string, unknown>;
}

/** A flood under way: `started` once its process sends (its `ms` counted from then), `figures` once it is over. */
export interface Flood {
  readonly started: Promise<void>;
  readonly figures: Promise<FloodFigures>;
}

/**
 * `connections` loops of `fields` orders for `ms`, at most `perSecond` in all, from a process of their own. A process
 * takes a moment to start (most of a second on a loaded machine): what is timed against the flood waits for `started`.
 */
export function floodFrom(
  { url, key }: { readonly url: URL; readonly key?: string },
  flood: Omit<FloodOrders, 'url' | 'key'>,
): Flood {
  const orders: FloodOrders = { url: url.href, ...(key ? { key } : {}), ...flood };
  const child = fork(pathOf(compiledModule('load/lib/flood-process')), [JSON.stringify(orders)], {
    stdio: 'inherit',
    execArgv: [],
  });
  // Listened for at once: the process may be gone before a handler added later has run.
  const exited = once(child, 'exit');
  let started!: () => void;
  const sending = new Promise<void>((resolve) => (started = resolve));
  const figures = new Promise<FloodFigures>((resolve, reject) => {
    child.on('message', (message: 'started' | FloodFigures) => {
      if (message === 'started') started();
      else resolve(message);
    });
    void exited.then(([code]) => {
      started();
      if (code !== 0) reject(new Error(`the flood's process exited ${String(code)}`));
    });
  });
  const over = figures.then(async (got) => {
    await exited;
    return got;
  });
  // Awaited by the caller once what it times is done; a process that failed meanwhile is told there, not before.
  over.catch(() => {});
  return { started: sending, figures: over };
}
