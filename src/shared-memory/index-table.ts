/**
 * A table of entries by a small, recycled index — a step's cancel cell (cancel-cells.ts) — sized once for every index,
 * its entries in the order they were set. The index is already the step's own number, so the table needs no hashing and
 * never grows.
 *
 * Not a Map, for the collector's sake. A Map set and deleted for every step rebuilds its hash table every
 * few hundred steps, and each table it leaves behind lies in the old generation still pointing at the entries it held.
 * A scavenge takes every such pointer for a live one, so the young objects of steps long ended were copied, promoted,
 * and left for the full collections. With three such Maps on a step's path on the main thread (the ring's steps out,
 * the thread view's tasks, the cells' abort listeners), that was most of what the main thread's scavenges kept
 * (docs/decisions/an-order-in-flight.md).
 *
 * A walk calls back once per entry (`forEach`): through a callback shared by several callers, slower than a Map's own
 * walk. Fine for the main thread's occasional walks; the courier semaphore, which walks its waiters at every
 * release, keeps a Map (tried here, its threads in the load suite's `wide` were then judged stuck).
 */
const NONE = -1;

export class IndexTable<T> {
  private readonly values: Array<T | undefined>;
  /** Insertion order, as links between indices: -1 ends a list. */
  private readonly after: Int32Array;
  private readonly before: Int32Array;
  private first = NONE;
  private last = NONE;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`an index table holds a positive number of entries, got ${capacity}`);
    this.values = new Array<T | undefined>(capacity).fill(undefined);
    this.after = new Int32Array(capacity).fill(NONE);
    this.before = new Int32Array(capacity).fill(NONE);
  }

  get size(): number {
    return this.count;
  }

  get(index: number): T | undefined {
    return this.values[this.checked(index)];
  }

  has(index: number): boolean {
    return this.values[this.checked(index)] !== undefined;
  }

  /** Set the index's entry (`undefined` is no entry: use `delete`); an index already set keeps its place in the order. */
  set(index: number, value: T): void {
    if (value === undefined) throw new TypeError('an index table entry cannot be undefined');
    const at = this.checked(index);
    if (this.values[at] === undefined) {
      this.before[at] = this.last;
      this.after[at] = NONE;
      if (this.last === NONE) this.first = at;
      else this.after[this.last] = at;
      this.last = at;
      this.count++;
    }
    this.values[at] = value;
  }

  /** Take the index's entry out; false if it had none. */
  delete(index: number): boolean {
    const at = this.checked(index);
    if (this.values[at] === undefined) return false;
    this.values[at] = undefined;
    const before = this.before[at]!;
    const after = this.after[at]!;
    if (before === NONE) this.first = after;
    else this.after[before] = after;
    if (after === NONE) this.last = before;
    else this.before[after] = before;
    this.count--;
    return true;
  }

  /** Every entry, in the order they were set. `visit` may delete the entry it is given (not others). */
  forEach(visit: (value: T, index: number) => void): void {
    for (let at = this.first; at !== NONE;) {
      const next = this.after[at]!;
      visit(this.values[at]!, at);
      at = next;
    }
  }

  private checked(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.capacity)
      throw new RangeError(`no index ${index} in a table of ${this.capacity}`);
    return index;
  }
}
