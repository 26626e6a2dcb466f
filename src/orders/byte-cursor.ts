/**
 * Bytes written and read one field after the other, as a done order's record
 * is kept (src/orders/done-records.ts): small numbers in one byte, any
 * number exactly. A number is a LEB128 varint of twice its value when it is
 * a whole number from 0 to 2^52 (durations, thread ids, attempts, amounts,
 * runs: one or two bytes each), or a marker and its 8 bytes (anything else:
 * a fraction, a negative, a huge amount) — so what is read back is the
 * number written, whatever it was.
 */

/** Whole numbers below this are written as varints (twice the number stays a safe integer). */
const VARINT_BELOW = 2 ** 52;
/** The varint's odd value saying 8 bytes of a float64 follow. */
const FLOAT_FOLLOWS = 1;

export class ByteWriter {
  private readonly view: DataView;
  /** Bytes written; past the array's length if more were written than it holds (those were dropped). */
  length = 0;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  byte(value: number): void {
    this.bytes[this.length++] = value;
  }

  /** A whole number from 0 to 2^53, in 7-bit groups (arithmetic, not bitwise: past 2^31 too). */
  varint(value: number): void {
    while (value >= 0x80) {
      this.bytes[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.bytes[this.length++] = value;
  }

  number(value: number): void {
    if (Number.isInteger(value) && value >= 0 && value < VARINT_BELOW && !Object.is(value, -0)) {
      this.varint(value * 2);
      return;
    }
    this.varint(FLOAT_FOLLOWS);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  /**
   * `value` from code unit `from` on: one byte a code unit when every one is below 256, else two; the varint before
   * them says which.
   */
  text(value: string, from = 0): void {
    let wide = 0;
    for (let i = from; i < value.length; i++) if (value.charCodeAt(i) > 0xff) wide = 1;
    this.varint((value.length - from) * 2 + wide);
    if (wide === 0) for (let i = from; i < value.length; i++) this.bytes[this.length++] = value.charCodeAt(i);
    else
      for (let i = from; i < value.length; i++) {
        this.view.setUint16(this.length, value.charCodeAt(i), true);
        this.length += 2;
      }
  }
}

export class ByteReader {
  /** `view`: a view of the same bytes, if there is one already. */
  constructor(
    private readonly bytes: Uint8Array,
    public at: number,
    private readonly view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  ) {}

  byte(): number {
    return this.bytes[this.at++]!;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = this.bytes[this.at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
  }

  number(): number {
    const coded = this.varint();
    if (coded !== FLOAT_FOLLOWS) return coded / 2;
    const value = this.view.getFloat64(this.at, true);
    this.at += 8;
    return value;
  }

  text(): string {
    const coded = this.varint();
    const length = Math.floor(coded / 2);
    if (coded % 2 === 0) {
      const start = this.at;
      this.at += length;
      return String.fromCharCode(...this.bytes.subarray(start, this.at));
    }
    let value = '';
    for (let i = 0; i < length; i++, this.at += 2) value += String.fromCharCode(this.view.getUint16(this.at, true));
    return value;
  }

  /**
   * Whether the text here is `value` from code unit `from` on (what `text` wrote of `value.slice(from)`), read past
   * either way.
   */
  textIs(value: string, from: number): boolean {
    const coded = this.varint();
    const length = Math.floor(coded / 2);
    const width = 1 + (coded % 2);
    const start = this.at;
    this.at += length * width;
    if (length !== value.length - from) return false;
    for (let i = 0; i < length; i++) {
      const unit = width === 1 ? this.bytes[start + i]! : this.view.getUint16(start + 2 * i, true);
      if (unit !== value.charCodeAt(from + i)) return false;
    }
    return true;
  }
}
