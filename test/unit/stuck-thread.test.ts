import { describe, expect, it } from 'vitest';
import { StepTracker } from '../../src/shared-memory/step-tracker.js';
import { stoodStill, UNSEEN_AFTER_MS, verdictOn } from '../../src/threads/thread-verdict.js';

describe("a canceled step's thread, judged as its grace period ends", () => {
  it('stood still when its progress count did not move, and not once it moved', () => {
    const tracker = StepTracker.create(1);
    const thread = tracker.claim(51);
    thread.enter();
    const before = tracker.progressOf(51);
    expect(stoodStill(before, tracker.progressOf(51))).toBe(true);
    thread.exit();
    expect(stoodStill(before, tracker.progressOf(51))).toBe(false);
  });

  // Before, two readings of "no count" were equal: a new thread taking a dead one's place, its first batch on its way,
  // was terminated as stuck, and beside busy cores the orders run again on it failed thread_lost (faults.test.ts).
  it('is starting, not stuck, while it has begun no step: it has no count yet', () => {
    const tracker = StepTracker.create(1);
    expect(stoodStill(tracker.progressOf(61), tracker.progressOf(61))).toBe(false);
    tracker.claim(61).enter();
    expect(stoodStill(undefined, tracker.progressOf(61))).toBe(false);
  });

  // SIGSTOP of the server for 500 ms during `wide`'s cancellation storm terminated a thread with 8,861 steps as stuck:
  // nothing had run, the judge included, whose timer fired 435 ms late.
  it('is unseen, not stuck, when the judge itself came late: judged again a period later', () => {
    const tracker = StepTracker.create(1);
    tracker.claim(71).enter();
    const before = tracker.progressOf(71);
    expect(verdictOn(before, tracker.progressOf(71), 2)).toBe('stuck');
    expect(verdictOn(before, tracker.progressOf(71), 435)).toBe('unseen');
    expect(verdictOn(before, tracker.progressOf(71), UNSEEN_AFTER_MS)).toBe('stuck');
    expect(verdictOn(undefined, tracker.progressOf(71), 435)).toBe('moving');
  });
});
