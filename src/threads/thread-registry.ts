/**
 * The worker threads, as the main thread must know them to survive their deaths: which are alive, which are doomed, and
 * — once one has exited — what it held. When a thread exits, the registry has the shared memory it held given back
 * (`reclaim`) before anyone waiting on that exit hears of it: an order whose step died with the thread is answered only
 * after the tracker and the courier pool no longer count what the thread held.
 */
import type { Worker } from 'node:worker_threads';
import { ThreadUtilization } from './thread-utilization.js';

type EventLoopUtilization = ReturnType<Worker['performance']['eventLoopUtilization']>;

export type ExitCause =
  | 'terminated' // the main thread killed it
  | 'died' // it crashed, called process.exit or ran out of memory
  | 'closed'; // the pool was shut down

/** @typeParam TakenBack What was taken back of the thread once it had exited (see StepPool). */
export interface ThreadExit<TakenBack> {
  readonly threadId: number;
  readonly cause: ExitCause;
  readonly exitCode: number;
  /** What brought it down, if it said (the worker's 'error' event). */
  readonly error: Error | undefined;
  /** Why the main thread terminated it, if it did. */
  readonly reason: string | undefined;
  /**
   * The cancel cell of the task it was terminated for (one that ignored its cancellation), if that is why: the task to
   * blame, whichever was on the CPU.
   */
  readonly culprit: number | undefined;
  readonly reclaimed: TakenBack;
}

/** A live thread as the registry knows it: its Worker, and why it is doomed, if it is (its tasks will not report). */
export interface LiveThread {
  readonly threadId: number;
  readonly worker: Worker;
  /** How busy its event loop was over the last window (0..1: thread-utilization.ts). */
  readonly utilization: number;
  readonly doomed: { readonly cause: ExitCause; readonly reason: string | undefined } | undefined;
}

interface Fate {
  readonly cause: ExitCause;
  readonly error?: Error;
  readonly reason?: string;
  readonly culprit?: number;
}

/** How many exits are remembered for late askers (a step learns of its thread's death after the fact). */
const REMEMBERED_EXITS = 1024;

export class ThreadRegistry<TakenBack> {
  private readonly live = new Map<number, Worker>();
  /** Threads that failed or were told to stop, and have not exited yet. */
  private readonly doomed = new Map<number, Fate>();
  private readonly exits = new Map<number, ThreadExit<TakenBack>>();
  private readonly exitWaiters = new Map<number, Array<(exit: ThreadExit<TakenBack>) => void>>();
  private closing = false;
  private replacedCount = 0;
  private readonly utilization = new ThreadUtilization();

  constructor(
    private readonly reclaim: (threadId: number) => TakenBack,
    private readonly onExit: (exit: ThreadExit<TakenBack>) => void,
  ) {}

  /** Threads alive now (started and not exited). */
  get liveCount(): number {
    return this.live.size;
  }

  /** Threads that may be given a task now: alive, and not doomed. */
  get acceptingCount(): number {
    let accepting = 0;
    for (const threadId of this.live.keys()) if (!this.isDoomed(threadId)) accepting++;
    return accepting;
  }

  /** Threads that died or were terminated while the pool was serving, each replaced by a new one. */
  get replaced(): number {
    return this.replacedCount;
  }

  /** Every thread alive now, by threadId; a doomed one is listed until it has exited. */
  liveThreads(): LiveThread[] {
    return [...this.live].map(([threadId, worker]) => {
      const fate = this.doomed.get(threadId);
      return {
        threadId,
        worker,
        utilization: this.utilization.of(threadId, worker),
        doomed: fate ? { cause: fate.cause, reason: fate.reason ?? fate.error?.message } : undefined,
      };
    });
  }

  track(worker: Worker): void {
    // A Worker's threadId reads -1 once it has exited: keep the real one.
    const threadId = worker.threadId;
    if (threadId < 0 || this.live.has(threadId) || this.exits.has(threadId)) return;
    this.live.set(threadId, worker);
    // Its first window of utilization begins as it is ready.
    this.utilization.of(threadId, worker);
    worker.on('error', (error: Error) => this.doom(threadId, { cause: 'died', error }));
    worker.once('exit', (exitCode: number) => this.exited(threadId, exitCode));
  }

  /** True once the thread has failed, been told to stop, or exited: its tasks will not report. */
  isDoomed(threadId: number): boolean {
    return this.closing || this.doomed.has(threadId) || this.exits.has(threadId);
  }

  /** Whether a thread may be given a task: it is tracked (ready) and not doomed. */
  accepts(threadId: number): boolean {
    return this.live.has(threadId) && !this.isDoomed(threadId);
  }

  /**
   * The thread is about to be terminated (every task on it is lost: Piscina does it as it aborts a task of it), for the
   * task of `culprit`'s cell if one. Returns false if it is not alive or already doomed: nothing more to do.
   */
  terminating(threadId: number, reason: string, culprit?: number): boolean {
    if (!this.live.has(threadId) || this.isDoomed(threadId)) return false;
    this.doom(threadId, { cause: 'terminated', reason, culprit });
    return true;
  }

  /** The thread's event loop's idle and active time since it started (undefined: not alive), read from here. */
  eventLoopOf(threadId: number): EventLoopUtilization | undefined {
    return this.live.get(threadId)?.performance.eventLoopUtilization();
  }

  /** Resolves once the thread has exited and what it held has been given back. */
  whenExited(threadId: number): Promise<ThreadExit<TakenBack>> {
    const exit = this.exits.get(threadId);
    if (exit) return Promise.resolve(exit);
    return new Promise((resolve) => {
      const waiters = this.exitWaiters.get(threadId) ?? [];
      waiters.push(resolve);
      this.exitWaiters.set(threadId, waiters);
    });
  }

  /** From now on every exit is the pool's shutdown, not a death. */
  markClosing(): void {
    this.closing = true;
  }

  private doom(threadId: number, fate: Fate): void {
    if (!this.doomed.has(threadId)) this.doomed.set(threadId, fate);
  }

  private exited(threadId: number, exitCode: number): void {
    const fate = this.doomed.get(threadId);
    this.doomed.delete(threadId);
    this.live.delete(threadId);
    this.utilization.forget(threadId);
    const cause: ExitCause = this.closing ? 'closed' : (fate?.cause ?? 'died');
    if (cause !== 'closed') this.replacedCount++;
    const exit: ThreadExit<TakenBack> = {
      threadId,
      cause,
      exitCode,
      error: fate?.error,
      reason: fate?.reason,
      culprit: fate?.culprit,
      reclaimed: this.reclaim(threadId),
    };
    this.exits.set(threadId, exit);
    if (this.exits.size > REMEMBERED_EXITS) this.exits.delete(this.exits.keys().next().value!);
    this.onExit(exit);
    const waiters = this.exitWaiters.get(threadId) ?? [];
    this.exitWaiters.delete(threadId);
    for (const resolve of waiters) resolve(exit);
  }
}
