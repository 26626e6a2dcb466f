/**
 * Counts the walks over large Maps that some code starts. A walk (for…of,
 * entries, keys, values, forEach) starts at the table's first slot and steps
 * over every entry deleted since the table was last rebuilt, so one walk an
 * operation over a Map that churns costs as much as its churn: the in-memory
 * outbox and order records each paid many times an operation's own cost that
 * way. Counting the walks
 * proves their absence without timing anything.
 */
type MapMethod = (this: Map<unknown, unknown>, ...args: never[]) => unknown;

const WALKS = ['entries', 'keys', 'values', 'forEach'] as const;

/** How many walks `run` starts over Maps holding at least `minSize` entries. */
export async function mapWalksIn(minSize: number, run: () => Promise<void> | void): Promise<number> {
  const prototype = Map.prototype as unknown as Record<string | symbol, MapMethod>;
  const originals = new Map<string | symbol, MapMethod>(
    [...WALKS, Symbol.iterator].map((name) => [name, prototype[name]!]),
  );
  let walks = 0;
  for (const [name, original] of originals)
    prototype[name] = function (this: Map<unknown, unknown>, ...args: never[]): unknown {
      if (this.size >= minSize) walks++;
      return original.apply(this, args);
    };
  try {
    await run();
  } finally {
    for (const [name, original] of originals) prototype[name] = original;
  }
  return walks;
}
