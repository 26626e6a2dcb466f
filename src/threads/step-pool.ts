/**
 * The worker pool steps run on: Piscina, fixed at `threads` OS threads, each
 * running many step tasks at once. A step that waits (for its delay, or for a
 * courier) holds no thread, so a few threads serve thousands of waiting steps
 * — the way Go multiplexes goroutines over a few OS threads. CPU work does
 * hold its thread.
 *
 * `atomics: 'async'`: an idle Piscina worker waits for its next task with
 * Atomics.waitAsync instead of blocking in Atomics.wait, so the work a thread
 * still has pending between tasks (wake-ups of finished tasks' waiters,
 * timers) is never frozen. load/measure/atomics-modes.ts measures the three modes.
 */
import type { ResourceLimits } from 'node:worker_threads';
import { Piscina, queueOptionsSymbol } from 'piscina';
import { Placement, type TaskPlacement } from './placement.js';
import {
  isEarlyReport,
  isLedgerRequest,
  type BatchedReport,
  type LedgerRequest,
  type StepBatch,
  type StepTask,
  type WorkerSetup,
} from './protocol.js';
import { ThreadRegistry, type ThreadExit } from './thread-registry.js';

/** The pool's queue of tasks waiting for a thread is full. */
export class PoolSaturated extends Error {
  constructor(limit: number) {
    super(`the worker pool's queue is full (${limit} tasks waiting for a thread)`);
    this.name = 'PoolSaturated';
  }
}

export interface StepPoolOptions<TakenBack> {
  readonly threads: number;
  /** Most step tasks one thread runs at once. */
  readonly tasksPerThread: number;
  /** Most tasks waiting for a thread, beyond which tasks are refused (PoolSaturated). */
  readonly queueLimit: number;
  /** The worker entry module (workers/step-worker). */
  readonly workerFile: URL;
  /** Per-thread limits; a thread over its heap limit dies alone and is replaced. */
  readonly resourceLimits?: ResourceLimits;
  readonly workerSetup: WorkerSetup;
  /** Give back the shared memory a dead thread held (tracker share, courier slots). */
  readonly reclaim: (threadId: number) => TakenBack;
  readonly onThreadExit: (exit: ThreadExit<TakenBack>) => void;
  /** A step sent the payment provider a request (posted by its thread outside of any task report). */
  readonly onLedgerRequest: (request: LedgerRequest) => void;
}

/** A step waiting to be posted, in a batch, at the end of the current turn. */
interface Posting {
  readonly task: StepTask;
  readonly placement: TaskPlacement;
  readonly resolve: (report: BatchedReport) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * @typeParam TakenBack What the pool's owner takes back of a thread that exits (its share of the shared memory):
 * `reclaim`'s answer.
 */
export class StepPool<TakenBack> {
  readonly registry: ThreadRegistry<TakenBack>;
  private readonly placement: Placement;
  private readonly piscina: Piscina<StepBatch, BatchedReport[]>;
  private readonly queueLimit: number;
  /** Steps posted in this turn of the event loop, not yet sent. */
  private postings: Posting[] = [];
  /** Steps of batches in flight that would take their failure early, by seq. */
  private readonly awaitingEarly = new Map<number, (report: BatchedReport) => void>();
  private nextSeq = 0;

  constructor(options: StepPoolOptions<TakenBack>) {
    this.queueLimit = options.queueLimit;
    this.registry = new ThreadRegistry(options.reclaim, options.onThreadExit);
    this.placement = new Placement(options.tasksPerThread, (threadId) => this.registry.accepts(threadId));
    this.piscina = new Piscina<StepBatch, BatchedReport[]>({
      filename: options.workerFile.href,
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: options.tasksPerThread,
      atomics: 'async',
      execArgv: [],
      resourceLimits: options.resourceLimits,
      workerData: options.workerSetup,
      loadBalancer: this.placement.balancer,
      recordTiming: true,
    });
    // Piscina announces a thread once it is ready. Only then is it tracked,
    // and only then does the balancer give it tasks: a thread that dies
    // before it is ready makes Piscina stop replacing threads for good, so
    // no task may be what kills it.
    this.piscina.on('workerCreate', (created: { id: number }) => {
      const worker = this.piscina.threads.find((thread) => thread.threadId === created.id);
      if (worker) this.registry.track(worker);
    });
    // Piscina reports a thread that failed with no task to blame as an
    // 'error' event; the registry has already dealt with the thread.
    this.piscina.on('error', () => {});
    // What a thread posts on its parent port, besides Piscina's own messages.
    this.piscina.on('message', (message: unknown) => {
      if (isLedgerRequest(message)) options.onLedgerRequest(message);
      else if (isEarlyReport(message)) this.awaitingEarly.get(message.seq)?.({ ...message.report, endedEarlierMs: 0 });
    });
  }

  /**
   * Post a step; resolves with its report, rejects if its thread is lost or
   * the pool refuses it. Call `settled` with its placement once it has.
   *
   * The step leaves at the end of the current turn, with the other steps of
   * its order posted in the same turn that do no CPU work (the pipeline posts
   * an order's steps together): one task for the pool, placed as one.
   */
  run(task: StepTask, placement: TaskPlacement): Promise<BatchedReport> {
    if (this.piscina.queueSize >= this.queueLimit) return Promise.reject(new PoolSaturated(this.queueLimit));
    return new Promise((resolve, reject) => {
      if (this.postings.length === 0) queueMicrotask(() => this.postBatches());
      this.postings.push({ task, placement, resolve, reject });
    });
  }

  private postBatches(): void {
    const postings = this.postings;
    this.postings = [];
    const together = new Map<StepTask['order'], Posting[]>();
    for (const posting of postings) {
      const batch = posting.placement.cpuMs === 0 ? together.get(posting.task.order) : undefined;
      if (batch) batch.push(posting);
      else if (posting.placement.cpuMs === 0) together.set(posting.task.order, [posting]);
      else this.post([posting]);
    }
    for (const batch of together.values()) this.post(batch);
  }

  private post(members: Posting[]): void {
    // The order's steps share its deadline, measured as they were posted (in this same turn).
    const { order, run, requestId, remainingMs, clientIndex } = members[0]!.task;
    const placement: TaskPlacement = members.length === 1 ? members[0]!.placement : { cpuMs: 0 };
    const steps = members.map(({ task, placement: memberPlacement, resolve }) => {
      const seq = this.nextSeq++;
      if (members.length > 1) {
        memberPlacement.batch = placement;
        this.awaitingEarly.set(seq, resolve);
      }
      return { seq, cell: task.cell, module: task.module };
    });
    const forget = (): void => {
      for (const { seq } of steps) this.awaitingEarly.delete(seq);
    };
    const batch = {
      order,
      run,
      requestId,
      ...(remainingMs === undefined ? {} : { remainingMs }),
      ...(clientIndex ? { clientIndex } : {}),
      steps,
      [queueOptionsSymbol]: placement,
    };
    this.piscina.run(batch as StepBatch).then(
      (reports) => {
        forget();
        // A member already answered early keeps that answer: a promise settles once.
        members.forEach((member, i) => member.resolve(reports[i]!));
      },
      (error: unknown) => {
        forget();
        for (const member of members) member.reject(error);
      },
    );
  }

  /** The task is over: the CPU it was placed with is no longer owed by its thread. */
  settled(placement: TaskPlacement): void {
    this.placement.settled(placement);
  }

  get threadCount(): number {
    return this.piscina.threads.length;
  }

  /** Piscina's own counters and run/wait-time histograms. */
  get stats(): Pick<Piscina, 'utilization' | 'completed' | 'histogram' | 'queueSize'> {
    return this.piscina;
  }

  close(): Promise<void> {
    this.registry.markClosing();
    return this.piscina.destroy();
  }
}
