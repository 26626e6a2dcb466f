/**
 * An order body as clients send it, decoded in one pass over its bytes: one JSON object whose keys are the body's own
 * fields, each once, with plain values — strings of printable ASCII with no escape, integers written as digits (no
 * sign, fraction, exponent or leading zero), `true` or `false`, and `delay_ms` and `cpu_ms` objects of the same — every
 * value in range. What it takes it gives as the schema would (test/unit/plain-order-body.test.ts holds the two to
 * each other on randomized bodies).
 *
 * It never refuses: anything else — a byte past ASCII, an escape, `null`, an unknown or repeated field, a value out of
 * range, `faults`, JSON that is not well formed — is `undefined`, and the body goes the schema's way
 * (src/http/wire/order-body.ts), which says what is wrong with it in the words it always has. That way decodes the
 * bytes, parses them, walks them again for repeated keys and lone surrogates, then has zod check the object: four
 * passes and the objects of each, for a body of a hundred bytes that is nearly always plain.
 */
import { ACTION_NAMES, MAX_ORDER_ID_LENGTH, STEP_NAMES, type ActionName, type StepName } from '../../domain/order.js';

/** What the schema gives of a body (order-body.ts's OrderBody, without `faults`, which is never plain). */
export interface PlainOrderBody {
  readonly order_id: string;
  readonly amount: number;
  readonly fail_step?: StepName;
  readonly fail_compensation?: boolean;
  readonly delay_ms?: Partial<Record<ActionName, number>>;
  readonly cpu_ms?: Partial<Record<StepName, number>>;
  readonly deadline_ms?: number;
}

/** The schema's bounds (order-body.ts), which it imports from here. */
export const MAX_DELAY_MS = 60_000;
export const MAX_CPU_MS = 10_000;
/** What any server's ORDER_DEADLINE_MAX_MS may allow: the document's bound; the server's own is told in a 400. */
export const MAX_DEADLINE_MS = 3_600_000;

const SPACE = 0x20;
const TAB = 0x09;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const ZERO = 0x30;
const NINE = 0x39;
const TILDE = 0x7e;

/** A read position in a body; `plain` turns false at the first thing that is not, and stays so. */
class Cursor {
  at = 0;
  plain = true;

  constructor(private readonly bytes: Buffer) {}

  private skipSpace(): number {
    const { bytes } = this;
    let byte = bytes[this.at];
    while (byte === SPACE || byte === LINE_FEED || byte === CARRIAGE_RETURN || byte === TAB) byte = bytes[++this.at];
    return byte ?? -1;
  }

  /** Whether the next token is `byte`, taken if so. */
  take(byte: number): boolean {
    if (this.skipSpace() !== byte) return false;
    this.at++;
    return true;
  }

  /** After a member: true past a comma (another comes), false past the closing brace or at anything else (not plain). */
  next(): boolean {
    const byte = this.skipSpace();
    this.at++;
    if (byte === COMMA) return true;
    if (byte !== CLOSE_BRACE) this.plain = false;
    return false;
  }

  /** Whether nothing but white space is left. */
  atEnd(): boolean {
    return this.skipSpace() === -1;
  }

  /** Past a string, between its quotes: where its bytes start (they end before the closing quote), or undefined. */
  private quoted(): number | undefined {
    if (!this.take(QUOTE)) return this.notPlain();
    const { bytes } = this;
    const start = this.at;
    for (let byte = bytes[this.at]; byte !== QUOTE; byte = bytes[++this.at])
      if (byte === undefined || byte < SPACE || byte > TILDE || byte === BACKSLASH) return this.notPlain();
    this.at++;
    return start;
  }

  string(): string | undefined {
    const start = this.quoted();
    return start === undefined ? undefined : this.bytes.toString('latin1', start, this.at - 1);
  }

  /** A key and its colon: its index among `keys` (each a name's bytes), or -1 for another; no string is made of it. */
  key(keys: readonly Buffer[]): number {
    const start = this.quoted();
    if (start === undefined) return -1;
    const length = this.at - 1 - start;
    if (!this.take(COLON)) {
      this.plain = false;
      return -1;
    }
    const { bytes } = this;
    search: for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!;
      if (key.length !== length) continue;
      for (let i = 0; i < length; i++) if (bytes[start + i] !== key[i]) continue search;
      return k;
    }
    return -1;
  }

  /**
   * An integer within [min, max] (max at most 2^53 - 1). Read digit by digit, it is exact up to 2^53; past that it may
   * round, but never back to 2^53 - 1 or below, so no integer out of range passes for one in it.
   */
  integer(min: number, max: number): number | undefined {
    const { bytes } = this;
    let byte = this.skipSpace();
    const start = this.at;
    let value = 0;
    while (byte >= ZERO && byte <= NINE) {
      value = value * 10 + (byte - ZERO);
      byte = bytes[++this.at] ?? -1;
    }
    const digits = this.at - start;
    if (digits === 0 || (digits > 1 && bytes[start] === ZERO)) return this.notPlain();
    return value >= min && value <= max ? value : this.notPlain();
  }

  boolean(): boolean | undefined {
    this.skipSpace();
    for (const [word, value] of BOOLEANS) {
      if (this.bytes.toString('latin1', this.at, this.at + word.length) === word) {
        this.at += word.length;
        return value;
      }
    }
    return this.notPlain();
  }

  /** An object of integers within [0, max], its keys among `names`, each once. */
  millis<Name extends string>(
    names: readonly Name[],
    keys: readonly Buffer[],
    max: number,
  ): Partial<Record<Name, number>> | undefined {
    if (!this.take(OPEN_BRACE)) return this.notPlain();
    const millis: Partial<Record<Name, number>> = {};
    if (this.take(CLOSE_BRACE)) return millis;
    do {
      const key = names[this.key(keys)];
      if (key === undefined || millis[key] !== undefined) return this.notPlain();
      const value = this.integer(0, max);
      if (value === undefined) return undefined;
      millis[key] = value;
    } while (this.next());
    return this.plain ? millis : undefined;
  }

  notPlain(): undefined {
    this.plain = false;
    return undefined;
  }
}

const BOOLEANS = [
  ['true', true],
  ['false', false],
] as const;

const isStepName = (name: string | undefined): name is StepName =>
  name !== undefined && (STEP_NAMES as readonly string[]).includes(name);

/** The body as the schema would give it, if it is plain; undefined for the schema to decode (and refuse, or not). */
export function plainOrderBody(raw: Buffer, maxDeadlineMs: number): PlainOrderBody | undefined {
  const body = new Cursor(raw);
  if (!body.take(OPEN_BRACE) || body.take(CLOSE_BRACE)) return undefined;
  let order_id: string | undefined;
  let amount: number | undefined;
  let fail_step: StepName | undefined;
  let fail_compensation: boolean | undefined;
  let delay_ms: Partial<Record<ActionName, number>> | undefined;
  let cpu_ms: Partial<Record<StepName, number>> | undefined;
  let deadline_ms: number | undefined;
  /** Each field's bit, once it was given: a second is not plain (JSON.parse would keep it, the schema's way refuses). */
  let given = 0;
  do {
    const field = body.key(FIELD_KEYS);
    if (field < 0 || given & (1 << field)) return undefined;
    given |= 1 << field;
    switch (FIELDS[field]) {
      case 'order_id':
        order_id = body.string();
        if (order_id === undefined || order_id.length === 0 || order_id.length > MAX_ORDER_ID_LENGTH) return undefined;
        break;
      case 'amount':
        amount = body.integer(1, Number.MAX_SAFE_INTEGER);
        break;
      case 'fail_step': {
        const step = body.string();
        if (!isStepName(step)) return undefined;
        fail_step = step;
        break;
      }
      case 'fail_compensation':
        fail_compensation = body.boolean();
        break;
      case 'delay_ms':
        delay_ms = body.millis(ACTION_NAMES, ACTION_KEYS, MAX_DELAY_MS);
        break;
      case 'cpu_ms':
        cpu_ms = body.millis(STEP_NAMES, STEP_KEYS, MAX_CPU_MS);
        break;
      default:
        deadline_ms = body.integer(1, Math.min(MAX_DEADLINE_MS, maxDeadlineMs));
    }
    if (!body.plain) return undefined;
  } while (body.next());
  if (!body.plain || !body.atEnd() || order_id === undefined || amount === undefined) return undefined;
  return { order_id, amount, fail_step, fail_compensation, delay_ms, cpu_ms, deadline_ms };
}

/** The fields a plain body may give, each setting its bit once given (the last, deadline_ms, the switch's default). */
const FIELDS = ['order_id', 'amount', 'fail_step', 'fail_compensation', 'delay_ms', 'cpu_ms', 'deadline_ms'] as const;
/** Each name's bytes, as a key is matched: the same ASCII a plain body spells it in. */
const keysOf = (names: readonly string[]): Buffer[] => names.map((name) => Buffer.from(name, 'latin1'));
const FIELD_KEYS = keysOf(FIELDS);
const ACTION_KEYS = keysOf(ACTION_NAMES);
const STEP_KEYS = keysOf(STEP_NAMES);
