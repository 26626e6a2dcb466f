/**
 * The last resort's judgment of a thread that has a canceled step still running past its grace period
 * (pooled-step-runner.ts): whether the step runs its own code, out of every wait where its cancellation would have
 * ended it; whether the thread moved meanwhile, by its progress count in the tracker (src/shared-memory/step-tracker.ts);
 * whether the judge saw the period on time; and whether the kernel gave the thread a CPU to run on (kernel-schedule.ts).
 */
import type { DeadlineList, Deadlined } from '../pipeline/deadline-list.js';
import type { CancelCells } from '../shared-memory/cancel-cells.js';
import { heldOff, type KernelSchedule } from './kernel-schedule.js';

/** How often a step shown running is looked at again, and how much more its thread must run meanwhile. */
const CONFIRM_MS = 5;
const RAN_ON_NS = 5e6;

/**
 * Whether a thread stood still through a grace period: its progress count read as the period began (`before`) and as it
 * ended (`now`). A thread without a count has begun no step yet — the attempt is on its way to it, or it is a
 * new thread taking a dead one's place — so it is starting, not stuck. Taken for stuck, such a thread could be
 * terminated with the steps of other orders just run again on it, and those orders lost their thread a second time
 * through no fault of theirs (503 thread_lost).
 */
export function stoodStill(before: number | undefined, now: number | undefined): boolean {
  return now !== undefined && now === before;
}

/**
 * How late a judgment may come and still vouch for its period: past that, the main thread stood still too — or the
 * whole process did (a paused VM; SIGSTOP for half a second during `wide`'s cancellation storm reproduced it: a thread
 * terminated with 8,861 steps, judged 435 ms late). The 50 ms an instance allows beyond CANCEL_GRACE_MS for a stuck
 * thread's couriers to come back (it gives its lease up that early) is what an on-time judgment may take.
 */
export const UNSEEN_AFTER_MS = 50;

/**
 * A canceled step's thread at the end of a period: moving, stuck (it stood still through a period the judge saw on
 * time), or unseen (it stood still, but the judge came `lateMs` late: nobody may have run).
 */
export function verdictOn(
  before: number | undefined,
  now: number | undefined,
  lateMs: number,
): 'moving' | 'stuck' | 'unseen' {
  if (!stoodStill(before, now)) return 'moving';
  return lateMs > UNSEEN_AFTER_MS ? 'unseen' : 'stuck';
}

/** What the judge reads of a thread, by its id. */
export interface ThreadReadings {
  /** A count that moves while the thread makes progress (the tracker's); undefined before its first step. */
  progressOf(threadId: number): number | undefined;
  /** What the kernel says of its time on and waiting for a CPU; undefined where it does not say. */
  scheduleOf(threadId: number): Promise<KernelSchedule | undefined>;
}

/** What the judge reads: the cells, the threads, the grace period, and the timer of the periods' ends. */
export interface JudgingParts {
  readonly cells: CancelCells;
  readonly graceMs: number;
  readonly threads: ThreadReadings;
  readonly overdue: DeadlineList<CanceledStepJudge>;
}

/** A canceled step's attempt as its judge sees it. */
export interface JudgedAttempt {
  readonly threadId: number;
  readonly cell: number;
  /** The step and its order, for the reason. */
  readonly what: string;
  /** Whether the attempt is still the one on that thread with that cell. */
  stillOn(): boolean;
  /** The hard stop: the thread terminated, `culprit` the cell it is terminated for, if it is one step's fault. */
  terminate(reason: string, culprit?: number): void;
}

/**
 * Judges a canceled step's thread graceMs after the cancellation, and every graceMs after that until dismissed (the
 * attempt ended).
 */
export class CanceledStepJudge implements Deadlined {
  private overdueHandle: number;
  /** When the period under way ends. */
  private periodEnds: number;
  private lastProgress: number | undefined;
  /** The thread's schedule as the period under way began: the kernel asked then, its answer awaited by the judgment. */
  private lastSchedule: Promise<KernelSchedule | undefined> = Promise.resolve(undefined);
  private dismissed = false;

  constructor(
    private readonly parts: JudgingParts,
    private readonly attempt: JudgedAttempt,
  ) {
    this.lastProgress = parts.threads.progressOf(attempt.threadId);
    this.noteSchedule();
    this.periodEnds = performance.now() + parts.graceMs;
    this.overdueHandle = parts.overdue.add(this, this.periodEnds);
  }

  dismiss(): void {
    this.dismissed = true;
    this.parts.overdue.remove(this.overdueHandle);
    this.overdueHandle = -1;
  }

  deadlinePassed(): void {
    this.overdueHandle = -1;
    if (!this.standing()) return;
    const late = Math.round(performance.now() - this.periodEnds);
    if (this.shownRunning() || this.stoodStill(late)) return void this.judgeByKernel(late);
    // Moving, its canceled step in a wait the thread has yet to end (a backlog), or unseen (the judge ran late: the
    // main thread, or the whole process, stood still, and the thread may not have run either): judged again a whole
    // period later.
    this.lastProgress = this.parts.threads.progressOf(this.attempt.threadId);
    this.noteSchedule();
    this.judgeAgain();
  }

  /** Whether there is still a canceled step to judge: the attempt on its thread, its cell not finished. */
  private standing(): boolean {
    return !this.dismissed && this.attempt.stillOn() && !this.parts.cells.hasFinished(this.attempt.cell);
  }

  private judgeAgain(): void {
    this.periodEnds = performance.now() + this.parts.graceMs;
    this.overdueHandle = this.parts.overdue.add(this, this.periodEnds);
  }

  /** The kernel's word on the thread as a period begins (a read of /proc, off the loop, awaited when judged). */
  private noteSchedule(): void {
    this.lastSchedule = this.parts.threads.scheduleOf(this.attempt.threadId);
  }

  /** Its step shows itself running its own code, out of every wait where its cancellation would have ended it. */
  private shownRunning(): boolean {
    const { cells } = this.parts;
    return cells.hasStarted(this.attempt.cell) && cells.activityOf(this.attempt.cell) === 'running';
  }

  /** Its thread's progress stood still through a period the judge saw on time. */
  private stoodStill(late: number): boolean {
    return verdictOn(this.lastProgress, this.parts.threads.progressOf(this.attempt.threadId), late) === 'stuck';
  }

  /**
   * The kernel's word before a charge stands, asked off the loop; then the cell and the thread are looked at again, for
   * the step may have ended or the thread moved meanwhile. A thread that stood still is stuck unless the kernel held it
   * off the CPUs (and its step, if shown running, ignores its cancellation). A step shown running on a thread that
   * moved is looked at once more as the thread runs on (confirmIgnoring). Neither: judged again a period later.
   */
  private async judgeByKernel(late: number): Promise<void> {
    const { graceMs, threads } = this.parts;
    const { cell, threadId, what } = this.attempt;
    // The period's start as the kernel said it, however late its answer came on a busy loop: the period is measured
    // between the two readings.
    const [start, schedule] = await Promise.all([this.lastSchedule, threads.scheduleOf(threadId)]);
    if (!this.standing()) return;
    const stuck = this.stoodStill(late) && !heldOff(start, schedule);
    if (this.shownRunning()) {
      if (stuck || !schedule) return this.attempt.terminate(`${what} ignored its cancellation for ${graceMs} ms`, cell);
      return this.confirmIgnoring(schedule, performance.now() + graceMs);
    }
    if (stuck)
      return this.attempt.terminate(
        `thread stuck for ${graceMs} ms with ${what} canceled on it (judged ${late} ms after the period)`,
      );
    this.lastProgress = threads.progressOf(threadId);
    this.lastSchedule = Promise.resolve(schedule);
    this.judgeAgain();
  }

  /**
   * A step shown running at a period's end may be one woken by its cancellation and caught by the judge before the few
   * microseconds that end it, its thread taken off the CPU between the two (two busy cores did, beside a thread busy
   * with a hundred canceled orders' steps). Such a step ends as soon as its thread runs again; a step whose code waits on
   * something of its own does not. So it is looked at again every CONFIRM_MS: still shown running after its thread has
   * run 5 ms more (a woken step ends in microseconds of its thread's time), or while the thread is idle, it ignores its
   * cancellation; ended, it is done with. Until `until` the thread may be kept off the CPUs; then the judge goes back to
   * its periods.
   */
  private confirmIgnoring(since: KernelSchedule, until: number): void {
    setTimeout(() => void this.lookAgain(since, until), CONFIRM_MS).unref();
  }

  private async lookAgain(since: KernelSchedule, until: number): Promise<void> {
    const { threads, graceMs } = this.parts;
    const { cell, threadId, what } = this.attempt;
    const now = await threads.scheduleOf(threadId);
    if (!this.standing()) return;
    const ranOn = now !== undefined && (now.ranNs - since.ranNs >= RAN_ON_NS || !now.runnable);
    if (this.shownRunning() && (ranOn || now === undefined))
      return this.attempt.terminate(`${what} ignored its cancellation for ${graceMs} ms`, cell);
    if (this.shownRunning() && performance.now() < until) return this.confirmIgnoring(since, until);
    this.lastProgress = threads.progressOf(threadId);
    this.lastSchedule = Promise.resolve(now);
    this.judgeAgain();
  }
}
