import { describe, expect, it } from 'vitest';
import { randomHex, randomUuid } from '../../src/random-ids.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('random ids', () => {
  it('writes version 4 UUIDs as randomUUID() does, and hex ids of the length asked, none twice across refills', () => {
    // 4,000 of each: the 8 KB pool is refilled about 16 times, with draws straddling each refill's edge.
    const seen = new Set<string>();
    for (let i = 0; i < 4000; i++) {
      const uuid = randomUuid();
      expect(uuid).toMatch(UUID_V4);
      const trace = randomHex(16);
      expect(trace).toMatch(/^[0-9a-f]{32}$/);
      const span = randomHex(8);
      expect(span).toMatch(/^[0-9a-f]{16}$/);
      seen.add(uuid).add(trace).add(span);
    }
    expect(seen.size).toBe(12_000);
  });

  it('keeps an id as it was given: later draws do not rewrite its text', () => {
    const first = randomUuid();
    const copy = `${first}`.split('').join('');
    for (let i = 0; i < 1000; i++) randomUuid();
    expect(first).toBe(copy);
  });

  it('spreads every hex digit evenly over the random positions (a chi-square test, 16 bins)', () => {
    const counts = new Array<number>(16).fill(0);
    let digits = 0;
    for (let i = 0; i < 2000; i++)
      for (const digit of randomHex(16)) {
        counts[Number.parseInt(digit, 16)]!++;
        digits++;
      }
    const expected = digits / 16;
    const chiSquare = counts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    // 15 degrees of freedom: a fair source exceeds 100 about once in 10^13 runs; a digit table or shift gone wrong
    // (a digit never written, or two written for one) gives thousands.
    expect(chiSquare).toBeLessThan(100);
  });
});
