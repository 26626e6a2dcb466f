import { describe, expect, it } from 'vitest';
import { threadsBeyond } from '../support/leaks.js';

describe("the per-file check of the process's OS threads", () => {
  const atStart = ['node-MainThread', 'node-V8Worker', 'node-V8Worker', 'libuv-worker', 'node-Worker'];

  it('passes a file that ends with a thread of its start gone (a full run once saw 11 against 12)', () => {
    expect(threadsBeyond(atStart, ['node-MainThread', 'node-V8Worker', 'node-V8Worker', 'libuv-worker'])).toEqual([]);
  });

  it('names a thread left beyond the start, even when another one is gone (the count alone would be even)', () => {
    const now = ['node-MainThread', 'node-V8Worker', 'libuv-worker', 'node-Worker', 'node-Worker'];
    expect(threadsBeyond(atStart, now)).toEqual(['node-Worker']);
  });

  it('counts threads of one name: a second worker is beyond one', () => {
    expect(threadsBeyond(['node-Worker'], ['node-Worker', 'node-Worker'])).toEqual(['node-Worker']);
    expect(threadsBeyond(atStart, atStart)).toEqual([]);
  });
});
