/**
 * Random ids — a request's, its trace's and span's, an event's — read out of
 * one pooled buffer of the system's CSPRNG bytes, each as one flat string.
 *
 * `randomUUID()` draws from a cached buffer too, but writes its text as 16
 * hex pairs and four dashes concatenated, and the dashes were then taken out
 * again by `replaceAll`: the four ids of an order were a share of all the main
 * thread allocates per order (docs/decisions/an-order-in-flight.md). Here an id's
 * bytes are written into a buffer and read out once: one string of 32 or 36
 * one-byte characters.
 */
import { randomFillSync } from 'node:crypto';

/** Refilled whole when used up: 512 trace ids a fill, as `randomUUID()`'s own cache holds 128 UUIDs. */
const POOL_BYTES = 8192;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let drawn = POOL_BYTES;

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const UUID_LENGTH = 36;
const uuidText = Buffer.allocUnsafeSlow(UUID_LENGTH);

/** Where in the pool `bytes` unused random bytes start. */
function draw(bytes: number): number {
  if (drawn + bytes > POOL_BYTES) {
    randomFillSync(pool);
    drawn = 0;
  }
  const at = drawn;
  drawn += bytes;
  return at;
}

/** `bytes` random bytes as 2 × `bytes` lowercase hex digits. */
export function randomHex(bytes: number): string {
  const at = draw(bytes);
  return pool.toString('hex', at, at + bytes);
}

/** A version 4 UUID, lowercase with dashes, as `crypto.randomUUID()` writes it. */
export function randomUuid(): string {
  const at = draw(16);
  let written = 0;
  for (let i = 0; i < 16; i++) {
    let byte = pool[at + i]!;
    if (i === 6)
      byte = (byte & 0x0f) | 0x40; // the version: 4, random
    else if (i === 8) byte = (byte & 0x3f) | 0x80; // the variant: RFC 9562
    if (i === 4 || i === 6 || i === 8 || i === 10) uuidText[written++] = 0x2d;
    uuidText[written++] = HEX_DIGITS[byte >> 4]!;
    uuidText[written++] = HEX_DIGITS[byte & 0x0f]!;
  }
  return uuidText.toString('latin1', 0, UUID_LENGTH);
}
