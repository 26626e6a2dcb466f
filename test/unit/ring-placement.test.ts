import { describe, expect, it } from 'vitest';
import {
  BATCHES_WORTH_A_WAKE,
  PACKED_STEPS,
  threadForComputing,
  threadsForTurn,
  type RingCandidate,
} from '../../src/threads/ring-placement.js';

const thread = (name: string, candidate: Partial<RingCandidate> = {}): RingCandidate & { name: string } => ({
  name,
  owedCpuMs: 0,
  awake: false,
  ringSteps: 0,
  ...candidate,
});
const names = (chosen: ReadonlyArray<{ name: string }>): string[] => chosen.map(({ name }) => name);

describe("a turn's batches on the rings", () => {
  it('are packed onto the thread running the most steps, below PACKED_STEPS: its couriers are handed over there', () => {
    const fuller = thread('fuller', { ringSteps: 12 });
    const emptier = thread('emptier', { awake: true, ringSteps: 3 });
    expect(names(threadsForTurn([emptier, fuller], 1))).toEqual(['fuller']);
    expect(names(threadsForTurn([emptier, thread('full', { ringSteps: PACKED_STEPS - 1 })], 1))).toEqual(['full']);
  });

  it('go to another thread once one runs PACKED_STEPS, and past it to the one running the fewest', () => {
    const full = thread('full', { awake: true, ringSteps: PACKED_STEPS });
    expect(names(threadsForTurn([full, thread('other', { ringSteps: 3 })], 1))).toEqual(['other']);
    const fuller = thread('fuller', { ringSteps: PACKED_STEPS + 40 });
    expect(names(threadsForTurn([fuller, thread('over', { ringSteps: PACKED_STEPS + 1 })], 1))).toEqual(['over']);
  });

  it('go to a thread awake rather than wake one asleep, among threads running as many steps', () => {
    const asleep = thread('asleep', { ringSteps: 3 });
    const awake = thread('awake', { awake: true, ringSteps: 3 });
    expect(names(threadsForTurn([asleep, awake], 1))).toEqual(['awake']);
    expect(names(threadsForTurn([asleep, awake], 2 * BATCHES_WORTH_A_WAKE - 1))).toEqual(['awake']);
  });

  it('wake one thread, not every thread, for a few batches while all are asleep', () => {
    const threads = [thread('a', { ringSteps: 1 }), thread('b')];
    expect(names(threadsForTurn(threads, 3))).toEqual(['a']);
  });

  it('wake one more thread once the batches are worth its wake-up, and use every thread awake', () => {
    const threads = [thread('a'), thread('b', { ringSteps: 1 })];
    expect(names(threadsForTurn(threads, 2 * BATCHES_WORTH_A_WAKE))).toEqual(['b', 'a']);
    const awake = [thread('a', { awake: true }), thread('b', { awake: true, ringSteps: 1 })];
    expect(names(threadsForTurn(awake, 2))).toEqual(['b', 'a']);
  });

  it('still put a thread computing last, however few steps it runs: it reads its ring only between time slices', () => {
    const computing = thread('computing', { owedCpuMs: 20, awake: true, ringSteps: 30 });
    const idle = thread('idle');
    expect(names(threadsForTurn([computing, idle], 1))).toEqual(['idle']);
  });

  it('go nowhere when there are none', () => {
    expect(threadsForTurn([thread('a', { awake: true })], 0)).toEqual([]);
  });
});

describe('a computing step', () => {
  it('goes to the thread owing the least CPU, then to the one running the fewest steps: two CPU-heavy steps, two threads', () => {
    // The other thread's ring carries other clients' steps: it still owes no CPU, so it takes the second.
    const computing = thread('computing', { owedCpuMs: 500 });
    const carrying = thread('carrying', { ringSteps: 30 });
    expect(names([threadForComputing([computing, carrying])!])).toEqual(['carrying']);
    expect(names([threadForComputing([carrying, thread('idle')])!])).toEqual(['idle']);
    expect(threadForComputing([])).toBeUndefined();
  });
});
