import { describe, expect, it } from 'vitest';
import { DeadlineList } from '../../src/pipeline/deadline-list.js';
import { CancelCells, type StepActivity } from '../../src/shared-memory/cancel-cells.js';
import { StepTracker } from '../../src/shared-memory/step-tracker.js';
import type { KernelSchedule } from '../../src/threads/kernel-schedule.js';
import { CanceledStepJudge, stoodStill, UNSEEN_AFTER_MS, verdictOn } from '../../src/threads/thread-verdict.js';

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

/**
 * The judge over real cells, a real tracker and its real timers; the kernel's word is what `kernel` holds when asked
 * (undefined: it does not say), `schedule` from the judge's first reading on, and the thread's progress moves while
 * `moving`.
 */
function judged(activity: StepActivity, schedule: Reading | undefined = at(0, 0, false)) {
  const cells = CancelCells.create(1);
  const tracker = StepTracker.create(1);
  const shard = tracker.claim(81);
  shard.enter();
  cells.markStarted(0);
  cells.setActivity(0, activity);
  const kernel: { schedule: Reading | undefined; asked: number } = { schedule, asked: 0 };
  const terminated: { reason: string; culprit?: number }[] = [];
  const judge = new CanceledStepJudge(
    {
      cells,
      graceMs: 20,
      threads: {
        progressOf: (threadId) => tracker.progressOf(threadId),
        scheduleOf: async () => (kernel.asked++, kernel.schedule && { ...kernel.schedule, atMs: performance.now() }),
      },
      overdue: new DeadlineList<CanceledStepJudge>(),
    },
    {
      threadId: 81,
      cell: 0,
      what: 'step vendor of order o-1',
      stillOn: () => true,
      terminate: (reason, culprit) => void terminated.push({ reason, ...(culprit === undefined ? {} : { culprit }) }),
    },
  );
  const beating = setInterval(() => shard.beat(), 2);
  return {
    cells,
    judge,
    kernel,
    terminated,
    stopMoving: () => clearInterval(beating),
    [Symbol.dispose]: () => (clearInterval(beating), judge.dismiss()),
  };
}

/** The kernel's word as scripted; when it was read is added as it is asked. */
type Reading = Omit<KernelSchedule, 'atMs'>;

const at = (ranMs: number, waitedMs: number, runnable: boolean): Reading => ({
  ranNs: ranMs * 1e6,
  waitedNs: waitedMs * 1e6,
  runnable,
});

describe("the judge of a canceled step's thread, asking the kernel", () => {
  // Beside a thread busy with a hundred canceled orders' steps on two busy cores, a vendor step woken by its
  // cancellation was caught shown running, its thread taken off the CPU before the microseconds that end it, and
  // terminated as ignoring its cancellation.
  it('looks again at a step shown running while its thread has not run on: ended meanwhile, nothing is charged', async () => {
    // From the first reading on: set after it, the first period read as one in which the thread ran 5 ms, and a
    // period in which the beats below had not yet moved its count (1 run in 20-50 beside busy cores) was charged.
    using subject = judged('running', at(5, 30, true));
    await until(() => subject.kernel.asked >= 6);
    subject.cells.markFinished(0);
    await pause(40);
    expect(subject.terminated).toEqual([]);
  });

  it('charges a step still shown running once its thread ran on 5 ms more: its code waits on something of its own', async () => {
    using subject = judged('running', at(5, 0, true));
    await until(() => subject.kernel.asked >= 3);
    expect(subject.terminated).toEqual([]);
    subject.kernel.schedule = at(11, 0, true);
    await until(() => subject.terminated.length > 0);
    expect(subject.terminated).toEqual([
      { reason: 'step vendor of order o-1 ignored its cancellation for 20 ms', culprit: 0 },
    ]);
  });

  it('charges a step still shown running on an idle thread', async () => {
    using subject = judged('running');
    await until(() => subject.terminated.length > 0);
    expect(subject.terminated[0]).toMatchObject({ culprit: 0 });
  });

  it('judges a thread held off the CPUs again, and charges it once it stood still on a CPU', async () => {
    using subject = judged('sleeping', at(0, 0, true));
    subject.stopMoving();
    await pause(30);
    subject.kernel.schedule = at(0, 25, true);
    await pause(60);
    expect(subject.terminated).toEqual([]);
    subject.kernel.schedule = at(40, 25, true);
    await until(() => subject.terminated.length > 0);
    expect(subject.terminated).toEqual([{ reason: expect.stringMatching(/^thread stuck for 20 ms with step vendor/) }]);
  });

  it('charges a thread blocked in a wait of its own: it neither ran nor waited for a CPU', async () => {
    using subject = judged('sleeping');
    subject.stopMoving();
    await until(() => subject.terminated.length > 0);
    expect(subject.terminated[0]?.reason).toMatch(/^thread stuck/);
  });

  it('charges as before where the kernel does not say', async () => {
    using subject = judged('running', undefined);
    await until(() => subject.terminated.length > 0);
    expect(subject.terminated[0]).toMatchObject({ culprit: 0 });
  });
});

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(done: () => boolean): Promise<void> {
  for (const started = performance.now(); !done(); await pause(2))
    if (performance.now() - started > 5_000) throw new Error('the judge never came to it within 5 s');
}
