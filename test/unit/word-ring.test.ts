import { Piscina } from 'piscina';
import { describe, expect, it } from 'vitest';
import { RingReader, WordRing } from '../../src/shared-memory/word-ring.js';
import type { EchoTask } from '../fixtures/ring-echo.js';
import { compiledFixture } from '../support/compiled.js';

/** Write one message of the given words; false if the ring has no room. */
function write(ring: WordRing, words: readonly number[]): boolean {
  const at = ring.begin(words.length);
  if (at < 0) return false;
  ring.words.set(words, at);
  ring.end();
  return true;
}

function readAll(ring: WordRing): number[][] {
  const messages: number[][] = [];
  ring.read((at, length) => messages.push(Array.from(ring.words.subarray(at, at + length))));
  return messages;
}

describe('WordRing', () => {
  it('hands messages over whole and in order, across the end of its data, and refuses one it has no room for', () => {
    const ring = WordRing.create(16);
    const reader = new WordRing(ring.buffer);
    let next = 0;
    const message = (length: number): number[] => Array.from({ length }, () => next++);
    for (let round = 0; round < 20; round++) {
      const sent = [message(3), message(5)];
      for (const words of sent) expect(write(ring, words)).toBe(true);
      // Unpublished messages are not the reader's yet.
      expect(readAll(reader)).toEqual([]);
      ring.publish();
      expect(readAll(reader)).toEqual(sent);
    }
    expect(write(ring, message(16))).toBe(false);
  });

  it('refuses a message while the reader is behind, and takes it once the reader has caught up', () => {
    const ring = WordRing.create(16);
    const reader = new WordRing(ring.buffer);
    const three = [
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10, 11, 12],
    ];
    for (const words of three) expect(write(ring, words)).toBe(true);
    ring.publish();
    expect(write(ring, [13])).toBe(false);
    expect(readAll(reader)).toEqual(three);
    // One word left before the end: the message starts again at the beginning.
    const wrapped = [20, 21, 22, 23, 24, 25, 26, 27, 28];
    expect(write(ring, wrapped)).toBe(true);
    ring.publish();
    expect(readAll(reader)).toEqual([wrapped]);
  });

  it('takes any message that fits the ring once the reader has caught up, wherever its head stands', () => {
    // Before: a message longer than the words left before the end counted those words as well, so one longer than
    // half the ring was refused for ever past its middle, even with the ring empty.
    const ring = WordRing.create(16);
    const reader = new WordRing(ring.buffer);
    for (let head = 0; head < 16; head++) {
      for (const length of [10, 15]) {
        const message = Array.from({ length }, (_, i) => 100 * head + i);
        let tries = 0;
        while (!write(ring, message)) {
          expect(++tries).toBeLessThanOrEqual(1);
          // The reader catches up with whatever was published (the words skipped before the end).
          ring.publish();
          expect(readAll(reader)).toEqual([]);
        }
        ring.publish();
        expect(readAll(reader)).toEqual([message]);
      }
      // Move the head one word on, for the next round.
      expect(write(ring, [])).toBe(true);
      ring.publish();
      readAll(reader);
    }
  });

  it('says which messages fit it at all: a writer can tell one refused for now from one refused for ever', () => {
    const ring = WordRing.create(16);
    expect(ring.fits(15)).toBe(true);
    expect(ring.fits(16)).toBe(false);
    expect(
      write(
        ring,
        Array.from({ length: 16 }, (_, i) => i),
      ),
    ).toBe(false);
    expect(
      write(
        ring,
        Array.from({ length: 15 }, (_, i) => i),
      ),
    ).toBe(true);
  });

  it('carries numbers beyond int32 and strings, whatever their characters and length', () => {
    const ring = WordRing.create(8192);
    // The last is read in chunks of 4,096 units, and one of its surrogate pairs straddles the first chunk's end.
    const strings = ['', 'a', 'order-42', 'zürich ✓ 注文 🚚', 'x'.repeat(101), 'a' + '🚚'.repeat(3000)];
    const floats = [0.25, -1e-9, 2 ** 40 + 0.5, NaN, Infinity];
    let at = ring.begin(floats.length * 2 + strings.reduce((sum, s) => sum + WordRing.stringWords(s), 0));
    for (const value of floats) at = ring.writeFloat(at, value);
    for (const value of strings) at = ring.writeString(at, value);
    ring.end();
    ring.publish();
    const reader = new WordRing(ring.buffer);
    expect(
      reader.read((from) => {
        let at = from;
        for (const value of floats) {
          expect(reader.readFloat(at)).toBe(value);
          at += 2;
        }
        for (const value of strings) {
          const read = reader.readString(at);
          expect(read.value).toBe(value);
          at = read.next;
        }
      }),
    ).toBe(1);
  });

  it('wakes a waiting reader once, and never a reader that said it would look again', async () => {
    const ring = WordRing.create(16);
    let visits = 0;
    const reader = new RingReader(new WordRing(ring.buffer), () => visits++);
    reader.look();
    write(ring, [1]);
    ring.publish();
    expect(ring.wake()).toBe(true);
    write(ring, [2]);
    ring.publish();
    // Rung already: the reader has not looked since.
    expect(ring.wake()).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(visits).toBe(2);
    reader.stayAwake();
    write(ring, [3]);
    ring.publish();
    expect(ring.wake()).toBe(false);
    reader.look();
    expect(visits).toBe(3);
    write(ring, [4]);
    ring.publish();
    expect(ring.wake()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(visits).toBe(4);
    reader.stop();
  });

  it('carries thousands of messages to another thread and back through small rings, none lost, with few wake-ups', async () => {
    const requests = WordRing.create(256);
    const replies = WordRing.create(256);
    const pool = new Piscina<EchoTask, { received: number; notifies: number }>({
      filename: compiledFixture('ring-echo').href,
      minThreads: 1,
      maxThreads: 1,
      atomics: 'async',
    });
    const count = 3000;
    const sent: number[][] = [];
    const echoed: number[][] = [];
    const replyReader = new RingReader(replies, (at, length) =>
      echoed.push(Array.from(replies.words.subarray(at, at + length))),
    );
    try {
      const done = pool.run({ requests: requests.buffer, replies: replies.buffer, messages: count });
      let notifies = 0;
      let turns = 0;
      while (sent.length < count) {
        turns++;
        // A turn's messages, as many as fit, then one wake.
        for (let n = 0; n < 20 && sent.length < count; n++) {
          const words = Array.from({ length: 1 + ((sent.length * 37) % 90) }, (_, i) => sent.length * 1000 + i);
          if (!write(requests, words)) break;
          sent.push(words);
        }
        requests.publish();
        if (requests.wake()) notifies++;
        replyReader.look();
        await new Promise((resolve) => setImmediate(resolve));
      }
      const { received } = await done;
      replyReader.look();
      expect(received).toBe(count);
      expect(echoed).toEqual(sent);
      expect(notifies).toBeLessThanOrEqual(turns);
    } finally {
      replyReader.stop();
      await pool.destroy();
    }
  });
});
