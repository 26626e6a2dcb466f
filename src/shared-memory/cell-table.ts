/**
 * What the main thread keeps of each step out on the pool, by its cancel
 * cell (cancel-cells.ts): one fixed table sized once for every cell, its
 * entries in the order they were set. The cell is already the step's small,
 * recycled number, so the table needs no hashing and never grows. It is the
 * main thread's own, beside the shared cells it is keyed by.
 *
 * Not a Map, for the collector's sake (issue 32). A Map set and deleted for
 * every step rebuilds its hash table every few hundred steps, and each table
 * it leaves behind lies in the old generation still pointing at the steps
 * it held. A scavenge takes every such pointer for a live one, so the young
 * objects of orders long answered were copied, promoted, and left for the
 * full collections: with three such Maps on a step's path (the ring's steps
 * out, the thread view's tasks, the cells' abort listeners), the pool bench
 * without HTTP kept ~4 MB per scavenge of the main thread instead of ~1 MB,
 * and spent 0.78× the CPU per order once they were tables like this one
 * (docs/measurements/2026-11-24-cell-tables.md).
 */
const NONE = -1;

export class CellTable<T> {
  private readonly values: Array<T | undefined>;
  /** Insertion order, as links between cells: -1 ends a list. */
  private readonly after: Int32Array;
  private readonly before: Int32Array;
  private first = NONE;
  private last = NONE;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`a cell table holds a positive number of cells, got ${capacity}`);
    this.values = new Array<T | undefined>(capacity).fill(undefined);
    this.after = new Int32Array(capacity).fill(NONE);
    this.before = new Int32Array(capacity).fill(NONE);
  }

  get size(): number {
    return this.count;
  }

  get(cell: number): T | undefined {
    return this.values[this.checked(cell)];
  }

  has(cell: number): boolean {
    return this.values[this.checked(cell)] !== undefined;
  }

  /** Set the cell's entry (`undefined` is no entry: use `delete`); a cell already set keeps its place in the order. */
  set(cell: number, value: T): void {
    if (value === undefined) throw new TypeError('a cell table entry cannot be undefined');
    const at = this.checked(cell);
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

  /** Take the cell's entry out; false if it had none. */
  delete(cell: number): boolean {
    const at = this.checked(cell);
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
  forEach(visit: (value: T, cell: number) => void): void {
    for (let at = this.first; at !== NONE;) {
      const next = this.after[at]!;
      visit(this.values[at]!, at);
      at = next;
    }
  }

  private checked(cell: number): number {
    if (!Number.isInteger(cell) || cell < 0 || cell >= this.capacity)
      throw new RangeError(`no cell ${cell} in a table of ${this.capacity}`);
    return cell;
  }
}
