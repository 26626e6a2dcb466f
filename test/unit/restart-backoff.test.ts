/** The primary's waits between replacements (src/cluster/restart-backoff.ts). */
import { describe, expect, it } from 'vitest';
import { RestartBackoff } from '../../src/cluster/restart-backoff.js';

const options = { firstMs: 250, maxMs: 5000, stableMs: 10_000 };
const cannotStart = { listened: false, livedMs: 300 };
const servedLong = { listened: true, livedMs: 60_000 };

describe('RestartBackoff', () => {
  it('replaces at once, then waits twice as long after each replacement that cannot start, up to the cap, and never gives up', () => {
    const backoff = new RestartBackoff(options);
    const waits = [backoff.next(servedLong), ...Array.from({ length: 9 }, () => backoff.next(cannotStart))];
    expect(waits).toEqual([0, 250, 500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]);
  });

  it('starts afresh after an instance that served a while, not after one that died young', () => {
    const backoff = new RestartBackoff(options);
    for (let i = 0; i < 4; i++) backoff.next(cannotStart);
    expect(backoff.next({ listened: true, livedMs: 2000 })).toBe(2000);
    expect(backoff.next(servedLong)).toBe(0);
    expect(backoff.next(cannotStart)).toBe(250);
  });
});
