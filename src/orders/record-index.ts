/**
 * The done records' index: a hash table of their positions in the log
 * (open addressing, linear probing), four bytes a slot in one typed array —
 * no string, no object, no Map entry per record. A record's key and its
 * hash are read where the record lies; the table holds positions alone.
 *
 * It doubles past 3/4 full and halves below 3/16, so it is never less than
 * 3/16 full once past its first size — and never less than 3/8 right after
 * it grew, which is when the bound is reached: at most 4 ÷ 3/8 ≈ 10.7 bytes a
 * record then (`INDEX_BYTES_PER_RECORD`, what the bound counts). A record
 * leaves without a tombstone: the records after it in its run move back
 * (backward-shift deletion), so a look-up never walks over the dead.
 */
import { NO_POSITION } from './record-log.js';

/** The table's bytes per record at the emptiest it is when the records' bound is reached, rounded up. */
export const INDEX_BYTES_PER_RECORD = 11;
const FIRST_SLOTS = 1024;

/** Where the records lie: what the index reads of them. */
export interface IndexedRecords<Key> {
  hashAt(position: number): number;
  /** Whether the record at `position` is the one of `key`. */
  holds(position: number, key: Key): boolean;
}

export class RecordIndex<Key> {
  private slots = new Uint32Array(FIRST_SLOTS).fill(NO_POSITION);
  private mask = FIRST_SLOTS - 1;
  count = 0;

  constructor(private readonly records: IndexedRecords<Key>) {}

  get bytes(): number {
    return this.slots.byteLength;
  }

  /** The position of `key`'s record, or NO_POSITION. */
  find(hash: number, key: Key): number {
    const { slots, mask, records } = this;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const position = slots[slot]!;
      if (position === NO_POSITION) return NO_POSITION;
      if (records.hashAt(position) === hash && records.holds(position, key)) return position;
    }
  }

  insert(hash: number, position: number): void {
    if ((this.count + 1) * 4 > this.slots.length * 3) this.resize(this.slots.length * 2);
    this.place(hash, position);
    this.count++;
  }

  /** The record at `position`, whose hash is `hash`, leaves the index. */
  remove(hash: number, position: number): void {
    const { slots, mask, records } = this;
    let hole = hash & mask;
    while (slots[hole] !== position) hole = (hole + 1) & mask;
    for (let slot = (hole + 1) & mask; slots[slot] !== NO_POSITION; slot = (slot + 1) & mask) {
      // A record may move back into the hole only if the hole is on its way from its home slot to where it lies.
      const home = records.hashAt(slots[slot]!) & mask;
      if (((slot - home) & mask) >= ((slot - hole) & mask)) {
        slots[hole] = slots[slot]!;
        hole = slot;
      }
    }
    slots[hole] = NO_POSITION;
    this.count--;
    if (this.slots.length > FIRST_SLOTS && this.count * 16 < this.slots.length * 3) this.resize(this.slots.length / 2);
  }

  private place(hash: number, position: number): void {
    const { slots, mask } = this;
    let slot = hash & mask;
    while (slots[slot] !== NO_POSITION) slot = (slot + 1) & mask;
    slots[slot] = position;
  }

  private resize(size: number): void {
    const old = this.slots;
    this.slots = new Uint32Array(size).fill(NO_POSITION);
    this.mask = size - 1;
    for (const position of old) if (position !== NO_POSITION) this.place(this.records.hashAt(position), position);
  }
}
