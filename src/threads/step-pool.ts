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
 * timers) is never frozen. The three modes, measured: docs/measurements/2026-11-22-thread-vs-goroutine.md.
 */
import type { ResourceLimits } from 'node:worker_threads';
import { Piscina, queueOptionsSymbol } from 'piscina';
import { Placement, type TaskPlacement } from './placement.js';
import {
  isThreadMail,
  type BatchedReport,
  type LedgerRequest,
  type ThreadTask,
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
  /** Most pool tasks one thread runs at once (a computing step, or the batches of the orders posted in one turn). */
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

/** A step waiting to be posted, in a task, at the end of the current turn. */
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
  private readonly piscina: Piscina<ThreadTask, BatchedReport[][]>;
  private readonly queueLimit: number;
  /** Steps posted in this turn of the event loop, not yet sent. */
  private postings: Posting[] = [];
  /** Steps of tasks in flight whose reports may come in the thread's mail, by seq. */
  private readonly awaitingMail = new Map<number, (report: BatchedReport) => void>();
  private nextSeq = 0;

  constructor(options: StepPoolOptions<TakenBack>) {
    this.queueLimit = options.queueLimit;
    this.registry = new ThreadRegistry(options.reclaim, options.onThreadExit);
    this.placement = new Placement(options.tasksPerThread, (threadId) => this.registry.accepts(threadId));
    this.piscina = new Piscina<ThreadTask, BatchedReport[][]>({
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
      if (!isThreadMail(message)) return;
      for (const request of message.ledgerRequests) options.onLedgerRequest(request);
      for (const { seq, report } of message.reports) this.awaitingMail.get(seq)?.(report);
    });
  }

  /**
   * Post a step; resolves with its report, rejects if its thread is lost or
   * the pool refuses it. Call `settled` with its placement once it has.
   *
   * The step leaves at the end of the current turn of the event loop (an
   * immediate: once every request read in this turn has been handled), with
   * the other steps posted in the same turn that do no CPU work: its order's
   * (the pipeline posts them together) in one batch, and other orders'
   * batches in the same task, one message per thread.
   */
  run(task: StepTask, placement: TaskPlacement): Promise<BatchedReport> {
    // Refused at once if the queue is full already; the limit is held again as the turn's tasks are posted.
    if (this.piscina.queueSize >= this.queueLimit) return Promise.reject(new PoolSaturated(this.queueLimit));
    return new Promise((resolve, reject) => {
      if (this.postings.length === 0) setImmediate(() => this.postBatches());
      this.postings.push({ task, placement, resolve, reject });
    });
  }

  /**
   * Every step posted in this turn leaves now: an order's steps that do no
   * CPU work as one batch, and the batches of different orders spread over
   * as many tasks as there are threads, each task one message to its thread.
   * A step that computes goes alone, so that two of them can run on two
   * threads.
   */
  private postBatches(): void {
    const postings = this.postings;
    this.postings = [];
    const together = new Map<StepTask['order'], Posting[]>();
    for (const posting of postings) {
      if (posting.placement.cpuMs > 0) {
        this.post([[posting]]);
        continue;
      }
      const batch = together.get(posting.task.order);
      if (batch) batch.push(posting);
      else together.set(posting.task.order, [posting]);
    }
    const batches = [...together.values()];
    const tasks = Math.min(batches.length, Math.max(1, this.piscina.threads.length));
    for (let t = 0; t < tasks; t++) this.post(batches.filter((_, i) => i % tasks === t));
  }

  /**
   * One task: the batches given, each the steps of one order. Refused if the queue is full: the steps posted in one
   * turn all passed `run`'s look at a queue they were not in yet, so a burst in one turn would overfill it.
   */
  private post(batches: Posting[][]): void {
    const members = batches.flat();
    if (this.piscina.queueSize >= this.queueLimit) {
      const full = new PoolSaturated(this.queueLimit);
      for (const member of members) member.reject(full);
      return;
    }
    const alone = batches.length === 1 && batches[0]!.length === 1;
    const placement: TaskPlacement = alone ? batches[0]![0]!.placement : { cpuMs: 0 };
    const seqs: number[] = [];
    const task: ThreadTask = {
      batches: batches.map((postings) => {
        // An order's steps share its deadline, measured as they were posted (in this same turn).
        const { order, run, requestId, traceId, remainingMs, clientIndex } = postings[0]!.task;
        const steps = postings.map(({ task: step, placement: memberPlacement, resolve }) => {
          const seq = this.nextSeq++;
          seqs.push(seq);
          if (!alone) {
            memberPlacement.batch = placement;
            this.awaitingMail.set(seq, resolve);
          }
          return { seq, cell: step.cell, module: step.module };
        });
        return {
          order,
          run,
          requestId,
          ...(traceId === undefined ? {} : { traceId }),
          ...(remainingMs === undefined ? {} : { remainingMs }),
          ...(clientIndex ? { clientIndex } : {}),
          steps,
        };
      }),
    };
    const forget = (): void => {
      for (const seq of seqs) this.awaitingMail.delete(seq);
    };
    this.piscina.run(Object.assign(task, { [queueOptionsSymbol]: placement })).then(
      (answer) => {
        forget();
        // A member already answered by mail keeps that answer: a promise settles once.
        const reports = answer.flat();
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
