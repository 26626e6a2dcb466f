import { describe, expect, it } from 'vitest';
import {
  AWAKE_LEAD,
  BATCHES_WORTH_A_WAKE,
  threadsForTurn,
  type RingCandidate,
} from '../../src/threads/ring-placement.js';

const thread = (name: string, candidate: Partial<RingCandidate> = {}): RingCandidate & { name: string } => ({
  name,
  owedCpuMs: 0,
  awake: false,
  ringTasks: 0,
  ...candidate,
});
const names = (chosen: ReadonlyArray<{ name: string }>): string[] => chosen.map(({ name }) => name);

describe("a turn's batches on the rings", () => {
  it('go to a thread awake rather than wake one asleep, when there are few', () => {
    const asleep = thread('asleep');
    const awake = thread('awake', { awake: true, ringTasks: 3 });
    expect(names(threadsForTurn([asleep, awake], 1))).toEqual(['awake']);
    expect(names(threadsForTurn([asleep, awake], 2 * BATCHES_WORTH_A_WAKE - 1))).toEqual(['awake']);
  });

  it('wake a thread asleep once the one awake runs more than AWAKE_LEAD tasks beyond it', () => {
    const asleep = thread('asleep', { ringTasks: 1 });
    expect(names(threadsForTurn([asleep, thread('awake', { awake: true, ringTasks: 1 + AWAKE_LEAD })], 1))).toEqual([
      'awake',
    ]);
    expect(names(threadsForTurn([asleep, thread('awake', { awake: true, ringTasks: 2 + AWAKE_LEAD })], 1))).toEqual([
      'asleep',
    ]);
  });

  it('wake one thread, not every thread, for a few batches while all are asleep', () => {
    const threads = [thread('a', { ringTasks: 1 }), thread('b')];
    expect(names(threadsForTurn(threads, 3))).toEqual(['b']);
  });

  it('wake one more thread once the batches are worth its wake-up, and use every thread awake', () => {
    const threads = [thread('a'), thread('b', { ringTasks: 1 })];
    expect(names(threadsForTurn(threads, 2 * BATCHES_WORTH_A_WAKE))).toEqual(['a', 'b']);
    const awake = [thread('a', { awake: true }), thread('b', { awake: true, ringTasks: 1 })];
    expect(names(threadsForTurn(awake, 2))).toEqual(['a', 'b']);
  });

  it('still put a thread computing last, awake or not: it reads its ring only between time slices', () => {
    const computing = thread('computing', { owedCpuMs: 20, awake: true });
    const idle = thread('idle');
    expect(names(threadsForTurn([computing, idle], 1))).toEqual(['idle']);
  });

  it('go nowhere when there are none', () => {
    expect(threadsForTurn([thread('a', { awake: true })], 0)).toEqual([]);
  });
});
