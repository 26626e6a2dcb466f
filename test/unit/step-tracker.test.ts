import { describe, expect, it } from 'vitest';
import { StepTracker } from '../../src/shared-memory/step-tracker.js';

describe('StepTracker', () => {
  it('sums what each thread counts', () => {
    const tracker = StepTracker.create(2);
    const a = tracker.claim(11);
    const b = tracker.claim(12);
    a.enter();
    a.enter();
    b.enter();
    expect(tracker.running()).toBe(3);
    a.exit();
    expect(tracker.running()).toBe(2);
  });

  it('gives back exactly the share of a dead thread, and what was on its CPU', () => {
    const tracker = StepTracker.create(2);
    const dead = tracker.claim(21);
    const alive = tracker.claim(22);
    dead.enter();
    dead.enter();
    dead.setOnCpu(7);
    alive.enter();
    expect(tracker.reclaim(21)).toEqual({ running: 2, onCpuCell: 7 });
    expect(tracker.running()).toBe(1);
    expect(tracker.reclaim(21)).toBeUndefined();
  });

  it('reports no culprit when the dead thread was executing nothing, and cell 0 when it was', () => {
    const tracker = StepTracker.create(1);
    tracker.claim(31);
    expect(tracker.reclaim(31)).toEqual({ running: 0, onCpuCell: undefined });
    tracker.claim(32).setOnCpu(0);
    expect(tracker.reclaim(32)?.onCpuCell).toBe(0);
  });

  it('reads every shard held, for the thread view', () => {
    const tracker = StepTracker.create(2);
    const busy = tracker.claim(41);
    tracker.claim(42);
    busy.enter();
    busy.setOnCpu(3);
    busy.beat();
    expect(tracker.shardsInUse()).toEqual([
      { threadId: 41, running: 1, onCpuCell: 3, progress: 2 },
      { threadId: 42, running: 0, onCpuCell: undefined, progress: 0 },
    ]);
  });

  it("moves a thread's progress count with every step it starts, not only when its event loop turns", () => {
    // A thread taking over the steps of one that died starts thousands of
    // them in one long turn of its event loop, in which its cancellation
    // watch cannot beat and none of them may end: that is progress, and the
    // main thread must see it, or it judges the thread stuck and kills it.
    const tracker = StepTracker.create(1);
    const busy = tracker.claim(51);
    const before = tracker.progressOf(51);
    busy.enter();
    const started = tracker.progressOf(51);
    busy.enter();
    expect([before, started, tracker.progressOf(51)]).toEqual([0, 1, 2]);
  });

  it('lets a new thread take a reclaimed shard, and refuses one past capacity', () => {
    const tracker = StepTracker.create(1);
    for (let id = 1; id <= tracker.shards; id++) tracker.claim(id);
    expect(() => tracker.claim(999)).toThrow(/no free tracker shard/);
    tracker.reclaim(1);
    expect(() => tracker.claim(999)).not.toThrow();
  });
});
