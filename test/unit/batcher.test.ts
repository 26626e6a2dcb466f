/**
 * The batcher on its own: calls of a turn go as one batch, each gets its own
 * answer, batches in flight are bounded, and a call that waits past maxWait
 * is failed unsent.
 */
import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/postgres/batcher.js';

/** A send that answers each input doubled, once `release` is called for its batch. */
function heldSend() {
  const batches: number[][] = [];
  const releases: Array<() => void> = [];
  const send = (inputs: readonly number[]): Promise<number[]> => {
    batches.push([...inputs]);
    return new Promise((resolve) => releases.push(() => resolve(inputs.map((input) => input * 2))));
  };
  return { batches, releases, send };
}

/** The end of this turn and the next: a batch answered schedules the next flush after its callers hear it. */
async function turns(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('Batcher', () => {
  it('sends the calls of one turn as one batch, and answers each its own', async () => {
    const { batches, releases, send } = heldSend();
    const batcher = new Batcher(send, { maxBatch: 10, maxInFlight: 1 });
    const answers = Promise.all([1, 2, 3].map((input) => batcher.call(input)));
    await turns();
    expect(batches).toEqual([[1, 2, 3]]);
    releases[0]!();
    expect(await answers).toEqual([2, 4, 6]);
  });

  it('holds calls while maxInFlight batches are on their way, then sends them together; backlog counts those the next flush cannot take', async () => {
    const { batches, releases, send } = heldSend();
    const batcher = new Batcher(send, { maxBatch: 2, maxInFlight: 1 });
    const first = batcher.call(1);
    await turns();
    const later = [2, 3, 4].map((input) => batcher.call(input));
    // One batch on its way: the three wait for it, none goes in the next flush yet.
    expect(batcher.backlog).toBe(3);
    await turns();
    expect(batches).toEqual([[1]]);
    releases[0]!();
    expect(await first).toBe(2);
    await turns();
    expect(batches).toEqual([[1], [2, 3]]);
    // A batch of two on its way, one call left: it waits for the next.
    expect(batcher.backlog).toBe(1);
    releases[1]!();
    await turns();
    releases[2]!();
    expect(await Promise.all(later)).toEqual([4, 6, 8]);
    expect(batcher.backlog).toBe(0);
  });

  it('fails a call that waited past maxWait for a batch on its way, and never sends it', async () => {
    const { batches, releases, send } = heldSend();
    const tooLong = new Error('waited too long');
    const batcher = new Batcher(send, { maxBatch: 10, maxInFlight: 1, maxWait: { ms: 50, error: () => tooLong } });
    const first = batcher.call(1);
    await turns();
    const waited = performance.now();
    await expect(batcher.call(2)).rejects.toBe(tooLong);
    // Margin: a busy machine fires the timer late, never early.
    expect(performance.now() - waited).toBeGreaterThanOrEqual(45);
    releases[0]!();
    expect(await first).toBe(2);
    await turns();
    expect(batches).toEqual([[1]]);
    expect(batcher.backlog).toBe(0);
  });
});
