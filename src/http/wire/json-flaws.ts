/**
 * What JSON.parse accepts and an order must not carry:
 * - a key twice in one object. JSON.parse keeps the last, so
 *   `{"amount":-1,"amount":1}` would pass as 1; RFC 8259 leaves the meaning
 *   of duplicates to each parser, and a proxy or log reader that keeps the
 *   first would see another order than the one run;
 * - a string that is not well-formed UTF-16: a lone surrogate escape
 *   (`"\ud800"`) has no UTF-8 form, so it would be logged and stored as
 *   U+FFFD — not the order_id the client sent.
 *
 * One linear pass with an explicit stack, over text JSON.parse has already
 * accepted, so it only follows the structure. No recursion: 64 KiB of JSON
 * can nest 30,000 levels deep. Only strings with escapes are decoded: text
 * that came from valid UTF-8 is well-formed, and only `\u` escapes can make
 * a lone surrogate. (jsonc-parser's visitor would find duplicate keys, but it
 * recurses — its stack overflows at about 20,000 levels — and adds 7 µs to an
 * order body where this adds 3; see the README.)
 */

export interface JsonFlaw {
  readonly kind: 'duplicate_key' | 'lone_surrogate';
  /** Where: keys and array indices joined by dots (`delay_ms.vendor`). */
  readonly path: string;
}

interface Frame {
  /** The keys seen so far in an object; undefined for an array. */
  readonly keys: Set<string> | undefined;
  /** The current key of an object, or index of an array. */
  segment: string | number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** The first flaw in `text`, which must be valid JSON; undefined if there is none. */
export function firstJsonFlaw(text: string): JsonFlaw | undefined {
  const frames: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === QUOTE) {
      const start = i;
      let escaped = false;
      for (i++; text.charCodeAt(i) !== QUOTE; i++) {
        if (text.charCodeAt(i) === BACKSLASH) {
          escaped = true;
          i++;
        }
      }
      const frame = frames.at(-1);
      const isKey = frame?.keys !== undefined && nextSignificant(text, i + 1) === COLON;
      if (!escaped && !isKey) continue;
      const value = escaped ? (JSON.parse(text.slice(start, i + 1)) as string) : text.slice(start + 1, i);
      const wellFormed = !escaped || value.isWellFormed();
      if (!isKey) {
        if (!wellFormed) return { kind: 'lone_surrogate', path: pathOf(frames) };
        continue;
      }
      const keyPath = (): string => pathOf(frames.slice(0, -1), wellFormed ? value : printable(value));
      if (!wellFormed) return { kind: 'lone_surrogate', path: keyPath() };
      if (frame.keys.has(value)) return { kind: 'duplicate_key', path: keyPath() };
      frame.keys.add(value);
      frame.segment = value;
    } else if (char === OPEN_BRACE) {
      frames.push({ keys: new Set(), segment: '' });
    } else if (char === OPEN_BRACKET) {
      frames.push({ keys: undefined, segment: 0 });
    } else if (char === COMMA) {
      const frame = frames.at(-1);
      if (frame && frame.keys === undefined) frame.segment = (frame.segment as number) + 1;
    } else if (char === CLOSE_BRACE || char === CLOSE_BRACKET) {
      frames.pop();
    }
  }
  return undefined;
}

function nextSignificant(text: string, from: number): number {
  let i = from;
  // JSON's whitespace: space, tab, line feed, carriage return.
  while (text.charCodeAt(i) <= 0x20) i++;
  return text.charCodeAt(i);
}

function pathOf(frames: readonly Frame[], last?: string): string {
  const segments: Array<string | number> = frames.map((frame) => frame.segment);
  if (last !== undefined) segments.push(last);
  return segments.join('.');
}

/** A key with a lone surrogate, escaped so that a message naming it is well-formed. */
function printable(key: string): string {
  return JSON.stringify(key).slice(1, -1);
}
