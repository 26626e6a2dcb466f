/**
 * The records of done orders, in memory, a few dozen bytes each: what a
 * replay and `GET /orders/{id}` need, and nothing else. Each is a run of
 * bytes in a log (src/orders/record-log.ts), found through a hash table of
 * positions (src/orders/record-index.ts): no object, string or Map entry per
 * record, so the heap holds none of them and the collector never walks them.
 *
 * A record, from its position:
 *
 *   0      what it is: kept, forgotten (its bytes wait for the head), or padding
 *   1–2    its length in bytes
 *   3–4    what it is charged in the records' bound: its bytes, its share of the
 *          index and of the log's chunks, and what is kept alongside it
 *   5      its outcome's kind (src/orders/outcome-codec.ts)
 *   6–9    the hash of its key
 *   10–17  its fingerprint: 64 bits of what its order asked for (src/orders/fingerprints.ts)
 *   18–25  when it expires (ms since the epoch)
 *   26…    its client (a number: the clients are few), its order id, and
 *          its body (src/orders/outcome-codec.ts)
 *
 * A record is never changed in place but to be forgotten: a record done
 * again is written anew at the tail.
 */
import type { OrderKey } from '../domain/order.js';
import { ByteReader, ByteWriter } from './byte-cursor.js';
import type { OutcomeKind } from './order-records.js';
import {
  kindCode,
  MAX_BODY_BYTES,
  OUTCOME_KINDS,
  readBody,
  readBooksOnly,
  writeBody,
  type DoneBody,
} from './outcome-codec.js';
import { INDEX_BYTES_PER_RECORD, RecordIndex } from './record-index.js';
import { CHUNK_BYTES, LOG_BYTES_PER_RECORD, NO_POSITION, PADDING, RecordLog, type Chunk } from './record-log.js';
import type { Fingerprint64 } from './fingerprints.js';
import { hashOf } from './string-hash.js';
import type { FoldedBooks } from '../ledger/memory-ledger.js';

export { NO_POSITION } from './record-log.js';

const KEPT = 1;
const FORGOTTEN = 2;
const LENGTH_AT = 1;
const CHARGE_AT = 3;
const KIND_AT = 5;
const HASH_AT = 6;
const FINGERPRINT_AT = 10;
const EXPIRES_AT = 18;
const CLIENT_AT = 26;

/** A record's bytes beyond its id's code units at most: its header, client and id's length, and its body. */
export const MAX_BYTES_BESIDES_ID = CLIENT_AT + 3 + 3 + MAX_BODY_BYTES;
/** The longest a record can be: an id of 256 code units of two bytes (128 characters outside the BMP). */
const MAX_RECORD_BYTES = MAX_BYTES_BESIDES_ID + 2 * 256;
const KEY_SEED = 0x6b657931;

/** A record about to be written: everything but its position. */
export interface DoneRecord extends DoneBody {
  readonly key: OrderKey;
  readonly fingerprint: Fingerprint64;
  readonly expiresAt: number;
  /** Bytes kept elsewhere for as long as the record is (what the bound counts besides the record). */
  readonly alongside: number;
}

export class DoneRecords {
  private readonly log = new RecordLog();
  private readonly index = new RecordIndex<OrderKey>(this);
  /** Clients by number, and their numbers. */
  private readonly clients: string[] = [];
  private readonly clientNumbers = new Map<string, number>();
  /** Where a record is written before it is copied to the log: its length is known only then. */
  private readonly scratch = new ByteWriter(new Uint8Array(MAX_RECORD_BYTES));

  /** Records kept. */
  get count(): number {
    return this.index.count;
  }

  /** Bytes held now: the log's chunks and the index's table. */
  get bytesHeld(): number {
    return this.log.bytesHeld + this.index.bytes;
  }

  /** The position of `key`'s record, or NO_POSITION; expired or not. */
  find(key: OrderKey): number {
    return this.index.find(hashOf(key, KEY_SEED), key);
  }

  /** Writes `record`; its position. The bytes it is charged: `chargeOf`. */
  add(record: DoneRecord): number {
    const { key, fingerprint, expiresAt } = record;
    const colon = key.indexOf(':');
    const out = this.scratch;
    out.length = CLIENT_AT;
    out.varint(this.clientNumber(key.slice(0, colon)));
    out.text(key, colon + 1);
    writeBody(out, record);
    if (out.length > out.bytes.length)
      throw new Error(`a done record of ${out.length} bytes, over ${MAX_RECORD_BYTES}`);
    const hash = hashOf(key, KEY_SEED);
    const position = this.log.reserve(out.length);
    const { bytes, view } = this.log.chunkAt(position);
    const at = position % CHUNK_BYTES;
    bytes.set(out.bytes.subarray(0, out.length), at);
    bytes[at] = KEPT;
    view.setUint16(at + LENGTH_AT, out.length, true);
    view.setUint16(at + CHARGE_AT, out.length + INDEX_BYTES_PER_RECORD + LOG_BYTES_PER_RECORD + record.alongside, true);
    bytes[at + KIND_AT] = kindCode(record.outcome.kind);
    view.setUint32(at + HASH_AT, hash, true);
    view.setUint32(at + FINGERPRINT_AT, fingerprint.low, true);
    view.setUint32(at + FINGERPRINT_AT + 4, fingerprint.high, true);
    view.setFloat64(at + EXPIRES_AT, expiresAt, true);
    this.index.insert(hash, position);
    return position;
  }

  /** The record at `position` is gone: out of the index, its bytes left for the head to pass. */
  forget(position: number): void {
    const { bytes, view } = this.log.chunkAt(position);
    const at = position % CHUNK_BYTES;
    bytes[at] = FORGOTTEN;
    this.index.remove(view.getUint32(at + HASH_AT, true), position);
  }

  /** Where the next record will be written: what a list takes as "everything done so far". */
  get tail(): number {
    return this.log.tail;
  }

  /**
   * The kept records written before `before` (the tail, or a kept record's position), newest first. Walked back a
   * chunk at a time (a record lies in one chunk, and each but the head's begins with one): a page of the newest costs
   * a chunk's records, not all of them. Nothing if `before` is no longer between the head and the tail (the records
   * it followed expired). To be walked within one turn: the log changes between turns.
   */
  *newestFirst(before: number): Generator<number> {
    const { log } = this;
    if ((before - log.head) >>> 0 > (log.tail - log.head) >>> 0) return;
    for (let end = before; end !== log.head;) {
      const chunkStart = ((end - 1) & ~(CHUNK_BYTES - 1)) >>> 0;
      const start = log.head >>> 16 === chunkStart >>> 16 ? log.head : chunkStart;
      const { bytes, view } = log.chunkAt(chunkStart);
      const kept: number[] = [];
      for (let at = start; at !== end;) {
        const offset = at % CHUNK_BYTES;
        if (bytes[offset] === PADDING) break;
        if (bytes[offset] === KEPT) kept.push(at);
        at = (at + view.getUint16(offset + LENGTH_AT, true)) >>> 0;
      }
      for (let i = kept.length - 1; i >= 0; i--) yield kept[i]!;
      end = start;
    }
  }

  /** Where the record at `position` ends: a position `newestFirst` lists it before. */
  endOf(position: number): number {
    return (position + this.viewOf(position).getUint16((position % CHUNK_BYTES) + LENGTH_AT, true)) >>> 0;
  }

  /** The oldest record kept, or NO_POSITION: the log's head moves past what was forgotten on the way. */
  oldest(): number {
    const { log } = this;
    while (log.head !== log.tail) {
      if (log.skipPadding()) continue;
      const { bytes, view } = log.chunkAt(log.head);
      const at = log.head % CHUNK_BYTES;
      if (bytes[at] === KEPT) return log.head;
      log.moveHead((log.head + view.getUint16(at + LENGTH_AT, true)) >>> 0);
    }
    return NO_POSITION;
  }

  expiresAtOf(position: number): number {
    return this.viewOf(position).getFloat64((position % CHUNK_BYTES) + EXPIRES_AT, true);
  }

  /** Bytes the record is charged in the bound: its own, its share of the index and the log, what is kept alongside. */
  chargeOf(position: number): number {
    return this.viewOf(position).getUint16((position % CHUNK_BYTES) + CHARGE_AT, true);
  }

  kindOf(position: number): OutcomeKind {
    return OUTCOME_KINDS[this.log.chunkAt(position).bytes[(position % CHUNK_BYTES) + KIND_AT]!]!;
  }

  fingerprintOf(position: number): Fingerprint64 {
    const view = this.viewOf(position);
    const at = (position % CHUNK_BYTES) + FINGERPRINT_AT;
    return { low: view.getUint32(at, true), high: view.getUint32(at + 4, true) };
  }

  clientOf(position: number): string {
    return this.clients[this.readerAt(position).varint()]!;
  }

  keyOf(position: number): OrderKey {
    const reader = this.readerAt(position);
    const client = this.clients[reader.varint()]!;
    return `${client}:${reader.text()}` as OrderKey;
  }

  /** The record's body, read whole. */
  bodyOf(position: number): DoneBody {
    const reader = this.readerAt(position);
    reader.varint();
    const orderId = reader.text();
    return readBody(reader, orderId, this.kindOf(position));
  }

  booksOf(position: number): FoldedBooks | undefined {
    const reader = this.readerAt(position);
    reader.varint();
    reader.text();
    return readBooksOnly(reader);
  }

  /** For the index: the hash of the record's key. */
  hashAt(position: number): number {
    return this.viewOf(position).getUint32((position % CHUNK_BYTES) + HASH_AT, true);
  }

  /** For the index: whether the record is `key`'s — its client (no client's name has a colon), then its id. */
  holds(position: number, key: OrderKey): boolean {
    const reader = this.readerAt(position);
    const client = this.clients[reader.varint()]!;
    return key.startsWith(client) && key.charCodeAt(client.length) === 0x3a && reader.textIs(key, client.length + 1);
  }

  private viewOf(position: number): DataView {
    return this.log.chunkAt(position).view;
  }

  private readerAt(position: number): ByteReader {
    const chunk: Chunk = this.log.chunkAt(position);
    return new ByteReader(chunk.bytes, (position % CHUNK_BYTES) + CLIENT_AT, chunk.view);
  }

  private clientNumber(client: string): number {
    let number = this.clientNumbers.get(client);
    if (number === undefined) {
      number = this.clients.push(client) - 1;
      this.clientNumbers.set(client, number);
    }
    return number;
  }
}
