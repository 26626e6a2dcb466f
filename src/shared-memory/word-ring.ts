/**
 * A ring of messages between two threads in a SharedArrayBuffer: one writer, one reader, each message a run of Int32
 * words. Steps travel to a thread in one and their reports come back in another (src/threads/step-rings.ts): an item
 * handed over as integer records costs a fraction of a `postMessage` of an object, which is a structured clone and a
 * task on the other side.
 *
 * Layout (Int32 words): HEAD, the words written so far; TAIL, the words read so far (both only grow, modulo 2^32);
 * WAKE, the reader's bell; then the data, a power of two of words. A message is its length, then its words; one that
 * does not fit before the end of the data is preceded by a SKIP word, and starts again at the beginning. The writer
 * stores HEAD after the words, the reader TAIL after reading them: each side sees the other's words whole. A message is
 * claimed by whichever side marks its length word TAKEN first: the reader as it reads it, or the writer taking back
 * what a reader that has stopped reading left unread (`withdraw`); the reader passes over a message withdrawn. Its
 * words are the writer's again once TAIL passes them.
 *
 * Wake-ups are coalesced. The reader, out of messages, quiets WAKE, looks at HEAD once more, and only then waits on
 * WAKE. The writer, after a turn's messages, rings WAKE: only the ring that finds it quiet notifies, so a reader that
 * is awake (reading, or about to look) is never notified, and a writer notifies at most once per reader's wait. Atomics
 * are sequentially consistent: a message written before a ring is seen by the reader's look after its quieting, or the
 * ring finds WAKE quiet and notifies. A reader busy with other work that will look again before its thread idles says
 * so (`stayAwake`): writers then leave it be, and a notify, which costs the writer as much as a small `postMessage`, is
 * saved.
 *
 * Numbers that are not int32 travel as two words (`writeFloat`), strings as their length and UTF-16 units two to a word
 * (`writeString`).
 */

const HEAD = 0;
const TAIL = 1;
const WAKE = 2;
const HEADER_WORDS = 4;

const QUIET = 0;
const RUNG = 1;
/** In place of a length: the rest of the data up to its end is unused; the message is at the beginning. */
const SKIP = -1;
/** A message's length word once the message is claimed by the reader or withdrawn by the writer: below SKIP. */
const taken = (length: number): number => -length - 2;
/** The length of a message whose length word is `word`, claimed or not. */
const lengthOf = (word: number): number => (word >= 0 ? word : -word - 2);

const floatScratch = new Float64Array(1);
const floatWords = new Int32Array(floatScratch.buffer);

export class WordRing {
  readonly buffer: SharedArrayBuffer;
  /** The whole buffer as words: messages are read and written in it, from the offsets the ring gives. */
  readonly words: Int32Array;
  /** Units of the same buffer, for strings. */
  private readonly units: Uint16Array;
  private readonly size: number;
  private readonly mask: number;
  /** Writer: HEAD as this side has it, ahead of the shared one until `publish`. */
  private head: number;
  /** Where the message being written starts, and its length word's place. */
  private writing = -1;

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    this.units = new Uint16Array(buffer);
    this.size = this.words.length - HEADER_WORDS;
    if (this.size < 2 || (this.size & (this.size - 1)) !== 0)
      throw new RangeError(`a ring's data must be a power of two of words, got ${this.size}`);
    this.mask = this.size - 1;
    this.head = Atomics.load(this.words, HEAD);
  }

  /** A ring of `dataWords` (a power of two) words of messages. */
  static create(dataWords: number): WordRing {
    return new WordRing(new SharedArrayBuffer((HEADER_WORDS + dataWords) * Int32Array.BYTES_PER_ELEMENT));
  }

  /** Words a string takes in a message. */
  static stringWords(value: string): number {
    return 1 + ((value.length + 1) >> 1);
  }

  /**
   * Writer: room for a message of `length` words; returns the offset in `words` of its first word, or -1 if the ring
   * has no room for it now (the reader is behind: a message that `fits` has room once the reader has read what is
   * published). End it with `end`; others see it after `publish`.
   */
  begin(length: number): number {
    if (this.writing !== -1) throw new Error('a message is being written already');
    if (!this.fits(length)) return -1;
    const tail = Atomics.load(this.words, TAIL);
    const toEnd = this.size - (this.head & this.mask);
    // A message never wraps: one that does not fit before the end starts at the beginning. The words skipped are the
    // reader's to pass over before they count as free, so they are given up now, whether or not the message fits yet:
    // asked again once the reader has read them, it then has the whole ring.
    if (length + 1 > toEnd) {
      if (((this.head - tail) | 0) + toEnd > this.size) return -1;
      this.words[HEADER_WORDS + (this.head & this.mask)] = SKIP;
      this.head = (this.head + toEnd) | 0;
    }
    if (((this.head - tail) | 0) + length + 1 > this.size) return -1;
    this.writing = this.head & this.mask;
    this.words[HEADER_WORDS + this.writing] = length;
    this.head = (this.head + length + 1) | 0;
    return HEADER_WORDS + this.writing + 1;
  }

  /** Whether a message of `length` words fits the ring at all: one that does not is refused for ever. */
  fits(length: number): boolean {
    return length + 1 <= this.size;
  }

  /** Writer: where its writes have come to (HEAD as this side has it), for `readPast`. */
  get written(): number {
    return this.head;
  }

  /** Writer: whether the reader has read (or passed over) everything up to `position`, a `written` of the past. */
  readPast(position: number): boolean {
    return ((Atomics.load(this.words, TAIL) - position) | 0) >= 0;
  }

  /** Writer: the message begun is whole. */
  end(): void {
    this.writing = -1;
  }

  /** Writer: make every message ended so far visible to the reader. Ring with `wake` once the turn's are out. */
  publish(): void {
    Atomics.store(this.words, HEAD, this.head);
  }

  /** Writer: whether the reader will read before it waits again (its bell rung, or it said `stayAwake`). */
  readerAwake(): boolean {
    return Atomics.load(this.words, WAKE) !== QUIET;
  }

  /** Writer: wake the reader if it is waiting; returns whether it notified. */
  wake(): boolean {
    if (Atomics.compareExchange(this.words, WAKE, QUIET, RUNG) !== QUIET) return false;
    Atomics.notify(this.words, WAKE, 1);
    return true;
  }

  /**
   * Reader: every message published and not withdrawn, in order: `visit(offset, length)` reads its words from `words`.
   * Each is claimed first (its length word marked TAKEN, which a writer withdrawing it would have marked before us),
   * and its words given back as soon as it is read: a writer waiting for room gets it as soon as it can.
   */
  read(visit: (at: number, length: number) => void): number {
    return this.claimEach(visit, (tail) => Atomics.store(this.words, TAIL, tail));
  }

  /**
   * Writer: take back every message published that the reader has not claimed yet (a reader that has stopped reading),
   * each marked TAKEN before the reader can claim it: `withdrawn(offset, length)` reads its words. Its words stay the
   * reader's to pass over, so they are free again only once it reads on. Returns how many were withdrawn.
   */
  withdraw(withdrawn: (at: number, length: number) => void): number {
    return this.claimEach(withdrawn, () => {});
  }

  /** Claim every message from TAIL to HEAD not claimed yet, and `visit` it; `passed(position)` after each message. */
  private claimEach(visit: (at: number, length: number) => void, passed: (position: number) => void): number {
    let position = Atomics.load(this.words, TAIL);
    const head = Atomics.load(this.words, HEAD);
    let count = 0;
    while (position !== head) {
      const at = position & this.mask;
      const word = HEADER_WORDS + at;
      const length = this.words[word]!;
      if (length === SKIP) position = (position + this.size - at) | 0;
      else {
        if (length >= 0 && Atomics.compareExchange(this.words, word, length, taken(length)) === length) {
          visit(word + 1, length);
          count++;
        }
        // A message claimed by the other side is passed over.
        position = (position + lengthOf(Atomics.load(this.words, word)) + 1) | 0;
      }
      passed(position);
    }
    return count;
  }

  /** Whether a message is waiting to be read. */
  hasMessages(): boolean {
    return Atomics.load(this.words, TAIL) !== Atomics.load(this.words, HEAD);
  }

  /** Reader: it is busy and will read again before it waits (RingReader.look): no writer need wake it meanwhile. */
  stayAwake(): void {
    Atomics.store(this.words, WAKE, RUNG);
  }

  /**
   * Reader, having read everything: quiet the bell, so that the next writer wakes it. False if a message came in
   * meanwhile (the bell is left rung: read again).
   */
  settle(): boolean {
    Atomics.store(this.words, WAKE, QUIET);
    if (!this.hasMessages()) return true;
    Atomics.store(this.words, WAKE, RUNG);
    return false;
  }

  /** Reader: wait for the bell (after `settle`); undefined if it is rung already. */
  waitForRing(): Promise<unknown> | undefined {
    const wait = Atomics.waitAsync(this.words, WAKE, QUIET);
    return wait.async ? wait.value : undefined;
  }

  /**
   * Either side, with the other gone: empty, as new. Waits left on the bell by a reader that stopped are ended, so that
   * a wake-up meant for the ring's next reader never goes to one of them.
   */
  clear(): void {
    Atomics.store(this.words, TAIL, 0);
    Atomics.store(this.words, HEAD, 0);
    Atomics.store(this.words, WAKE, QUIET);
    Atomics.notify(this.words, WAKE);
    this.head = 0;
    this.writing = -1;
  }

  /** Write a number that need not be an int32 (a duration, an amount) at `at`, in two words; returns the next. */
  writeFloat(at: number, value: number): number {
    floatScratch[0] = value;
    this.words[at] = floatWords[0]!;
    this.words[at + 1] = floatWords[1]!;
    return at + 2;
  }

  readFloat(at: number): number {
    floatWords[0] = this.words[at]!;
    floatWords[1] = this.words[at + 1]!;
    return floatScratch[0]!;
  }

  /** Write a string at `at` (its length, then its units); returns the next word. */
  writeString(at: number, value: string): number {
    const length = value.length;
    this.words[at] = length;
    const unit = (at + 1) * 2;
    for (let i = 0; i < length; i++) this.units[unit + i] = value.charCodeAt(i);
    return at + 1 + ((length + 1) >> 1);
  }

  /**
   * The string at `at`, and the word after it. The units are passed to `fromCharCode` as an array-like (`apply`), not
   * spread: a spread walks the array's iterator, several times slower for an id, and every batch a thread reads has
   * four such strings.
   */
  readString(at: number): { readonly value: string; readonly next: number } {
    const length = this.words[at]!;
    const unit = (at + 1) * 2;
    let value = '';
    for (let from = 0; from < length; from += 4096) {
      const units = this.units.subarray(unit + from, unit + Math.min(length, from + 4096));
      value += Reflect.apply(String.fromCharCode, null, units) as string;
    }
    return { value, next: at + 1 + ((length + 1) >> 1) };
  }
}

/**
 * A thread's reading of one ring: everything there is, then one wait for the next ring — never two at once, however
 * often it looks in between.
 */
export class RingReader {
  private waiting = false;
  private stopped = false;

  constructor(
    private readonly ring: WordRing,
    private readonly visit: (at: number, length: number) => void,
  ) {}

  /** The thread is busy, and will `look` before it idles: writers need not wake it. */
  stayAwake(): void {
    if (!this.stopped) this.ring.stayAwake();
  }

  /** Read every message, then (unless one is pending) wait for the next ring, and look again then. */
  look(): void {
    if (this.stopped) return;
    do this.ring.read(this.visit);
    while (!this.ring.settle());
    if (this.waiting) return;
    const wait = this.ring.waitForRing();
    if (wait === undefined) return this.look();
    this.waiting = true;
    void wait.then(this.woken);
  }

  /** Look no more (its writer is gone); a wait still pending is left to end with the next notify, unanswered. */
  stop(): void {
    this.stopped = true;
  }

  private readonly woken = (): void => {
    this.waiting = false;
    this.look();
  };
}
