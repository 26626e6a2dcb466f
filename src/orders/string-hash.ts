/**
 * A 32-bit hash of a string's UTF-16 code units (MurmurHash3's mixing), for
 * the done records' index and their fingerprints: not cryptographic, and not
 * needed to be — an order's fingerprint is a SHA-256 already, and what is
 * hashed here only files it. Over code units, not UTF-8 bytes: nothing is
 * encoded first, and an id with a lone surrogate hashes as itself. A seed
 * gives another hash of the same string: two seeds, 64 bits.
 */

export function hashOf(text: string, seed: number): number {
  let hash = seed | 0;
  for (let i = 0; i < text.length; i++) {
    let unit = Math.imul(text.charCodeAt(i), 0xcc9e2d51);
    unit = Math.imul((unit << 15) | (unit >>> 17), 0x1b873593);
    hash ^= unit;
    hash = (Math.imul((hash << 13) | (hash >>> 19), 5) + 0xe6546b64) | 0;
  }
  hash ^= text.length;
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}
