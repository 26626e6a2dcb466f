/**
 * A flood sent from a process of its own (./flood-process.ts), as from another machine: its fetches, and the parsing of
 * its thousands of answers, keep another process busy than the one that measures the victim — and, in the tests, than
 * the service's event loop, which a flood sent from the test's own process would share (three busy keys' 450 orders a
 * second there slowed the victim's 1 ms orders to a 127 ms median beside a loaded machine).
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

/** `connections` loops of `fields` orders for `ms`, at most `perSecond` in all, from a process of their own. */
export async function floodFrom(
  { url, key }: { readonly url: URL; readonly key?: string },
  flood: Omit<FloodOrders, 'url' | 'key'>,
): Promise<FloodFigures> {
  const orders: FloodOrders = { url: url.href, ...(key ? { key } : {}), ...flood };
  const child = fork(pathOf(compiledModule('load/lib/flood-process')), [JSON.stringify(orders)], {
    stdio: 'inherit',
    execArgv: [],
  });
  // Listened for at once: the process may be gone before the message's handler has run.
  const exited = once(child, 'exit');
  const [figures] = (await once(child, 'message')) as [FloodFigures];
  const [code] = (await exited) as [number | null];
  if (code !== 0) throw new Error(`the flood's process exited ${code}`);
  return figures;
}
