/**
 * The bytes of the done records, in the order they were written: a queue of
 * 64 KiB chunks, written at its tail and released from its head. Done
 * records expire in the order they were done (one time to live for all), so
 * what expires is always at the head, and memory goes back a chunk at a time
 * as records expire — never copied, never compacted. A record lies in one
 * chunk: one that would not fit in what is left of the tail's is written at
 * the next chunk's start, and the rest is marked as padding.
 *
 * A record is found by its position: a 32-bit count of bytes written since
 * the log began, which wraps around. Fine as long as less than 4 GiB lies
 * between the head and the tail (the records' bound is a quarter of the
 * heap). `NO_POSITION` is never a record's: it would be the last byte of a
 * chunk, and no record is one byte long.
 */

export const CHUNK_BYTES = 1 << 16;
/**
 * What the log holds besides its records, per record, rounded up: each chunk's objects (about 240 bytes), the
 * padding at its end (half a record on average) and the chunk being filled — about 1% of the records' bytes once
 * there are tens of thousands of them, which is when a bound is reached — and a byte for what the heap's own
 * measure varies by.
 */
export const LOG_BYTES_PER_RECORD = 3;
const CHUNK_BITS = 16;
const OFFSET_MASK = CHUNK_BYTES - 1;
/** Chunk numbers wrap with positions: 2^32 / 2^16 of them. */
const CHUNK_NUMBER_MASK = 0xffff;
export const NO_POSITION = 0xffffffff;

/** The first byte of a record says what it is; this one says the rest of its chunk is unused. */
export const PADDING = 0xff;

export interface Chunk {
  readonly bytes: Uint8Array;
  readonly view: DataView;
}

export class RecordLog {
  /** chunks[0] holds the head. */
  private readonly chunks: Chunk[] = [];
  /** The number of chunks[0] (its positions' top 16 bits). */
  private firstChunk = 0;
  /** Where the oldest record kept starts; equal to `tail` when none is. */
  head = 0;
  /** Where the next record goes. */
  tail = 0;

  /** Bytes of the chunks held. */
  get bytesHeld(): number {
    return this.chunks.length * CHUNK_BYTES;
  }

  chunkAt(position: number): Chunk {
    return this.chunks[((position >>> CHUNK_BITS) - this.firstChunk) & CHUNK_NUMBER_MASK]!;
  }

  /** Room for a record of `length` bytes (at most a chunk) at the tail: its position. */
  reserve(length: number): number {
    const offset = this.tail & OFFSET_MASK;
    if (offset + length > CHUNK_BYTES) {
      if (offset !== 0) this.chunkAt(this.tail).bytes[offset] = PADDING;
      this.tail = nextChunkStart(this.tail);
    }
    if ((this.tail & OFFSET_MASK) === 0) {
      const buffer = new ArrayBuffer(CHUNK_BYTES);
      if (this.chunks.length === 0) this.firstChunk = this.tail >>> CHUNK_BITS;
      this.chunks.push({ bytes: new Uint8Array(buffer), view: new DataView(buffer) });
    }
    const position = this.tail;
    this.tail = (this.tail + length) >>> 0;
    return position;
  }

  /** Whether the record at the head is padding: then the head moves on to the next chunk. */
  skipPadding(): boolean {
    if (this.head === this.tail || (this.head & OFFSET_MASK) === 0) return false;
    if (this.chunkAt(this.head).bytes[this.head & OFFSET_MASK] !== PADDING) return false;
    this.moveHead(nextChunkStart(this.head));
    return true;
  }

  /** The records before `to` are gone: so are the chunks before the one `to` is in. */
  moveHead(to: number): void {
    this.head = to;
    while (this.chunks.length > 0 && this.firstChunk !== this.head >>> CHUNK_BITS) {
      this.chunks.shift();
      this.firstChunk = (this.firstChunk + 1) & CHUNK_NUMBER_MASK;
    }
  }
}

const nextChunkStart = (position: number): number =>
  ((((position >>> CHUNK_BITS) + 1) & CHUNK_NUMBER_MASK) << CHUNK_BITS) >>> 0;
