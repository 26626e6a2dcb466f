/**
 * One timer for many deadlines that are all the same span from when they were set (every order's ORDER_TIMEOUT_MS,
 * every canceled step's grace period): such deadlines come due in the order they were set, so a list in that order,
 * with one timer armed for its first live entry, judges them all. An order no longer costs a Timeout object, its
 * closure and a clearTimeout: an entry is a slot in two arrays, and taking it out empties the slot.
 *
 * An entry taken out before its deadline leaves an empty slot until the list reaches it, so it holds nothing of what it
 * named. The timer is cleared when no live entry is left, so an idle list keeps no process alive.
 */

/** Told when its deadline has passed (at most once, and never after it was taken out). */
export interface Deadlined {
  deadlinePassed(): void;
}

/** Slots read past before the arrays are compacted. */
const COMPACT_AFTER = 4096;

export class DeadlineList<T extends Deadlined> {
  private entries: (T | undefined)[] = [];
  private dues: number[] = [];
  /** Index of the first slot not yet reached. */
  private head = 0;
  /** The handle of the slot at index 0. */
  private offset = 0;
  private live = 0;
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (performance.now()). */
  private armedFor = Infinity;
  private readonly fire = (): void => this.expire();

  /** Entries not yet due nor taken out. */
  get size(): number {
    return this.live;
  }

  /**
   * Have `entry` told once `due` (performance.now()) has passed. A due earlier than the last one added is judged with
   * it: the list is for deadlines set the same span ahead. Returns the handle that takes it out.
   */
  add(entry: T, due: number): number {
    const last = this.dues.length > this.head ? this.dues[this.dues.length - 1]! : -Infinity;
    this.entries.push(entry);
    this.dues.push(Math.max(due, last));
    this.live++;
    if (this.timer === undefined) this.arm(performance.now());
    return this.offset + this.entries.length - 1;
  }

  /** Take out the entry of `handle`, if it is still in; a handle below 0 is none. */
  remove(handle: number): void {
    const index = handle - this.offset;
    if (index < this.head || index >= this.entries.length || this.entries[index] === undefined) return;
    this.entries[index] = undefined;
    if (--this.live > 0) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  private expire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    // Node's timers run on the loop's millisecond clock, which may read a little behind performance.now().
    const now = performance.now() + 1;
    while (this.head < this.entries.length && this.dues[this.head]! <= now) {
      const entry = this.entries[this.head];
      this.entries[this.head++] = undefined;
      if (entry === undefined) continue;
      this.live--;
      entry.deadlinePassed();
    }
    if (this.live > 0 && this.timer === undefined) this.arm(performance.now());
  }

  /** The timer for the first live entry. */
  private arm(now: number): void {
    while (this.head < this.entries.length && this.entries[this.head] === undefined) this.head++;
    this.compact();
    if (this.head >= this.entries.length) return;
    const due = this.dues[this.head]!;
    if (this.timer !== undefined && this.armedFor <= due) return;
    clearTimeout(this.timer);
    this.armedFor = due;
    this.timer = setTimeout(this.fire, Math.max(0, Math.ceil(due - now)));
  }

  private compact(): void {
    if (this.head < COMPACT_AFTER || this.head * 2 < this.entries.length) return;
    this.entries = this.entries.slice(this.head);
    this.dues = this.dues.slice(this.head);
    this.offset += this.head;
    this.head = 0;
  }
}
