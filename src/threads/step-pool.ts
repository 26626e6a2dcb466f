/**
 * The worker pool steps run on: Piscina's. Each step is one Piscina task (`run`): Piscina queues it, hands it to the
 * thread its balancer picks (step-balancer.ts), starts `threads` threads, replaces one that dies and terminates them at
 * shutdown; the registry (thread-registry.ts) follows their lives, so that the shared memory a dead thread held is given
 * back before anyone hears of its death.
 *
 * A step that waits (for its delay, or for a courier) holds no thread, so a thread runs many steps at once
 * (THREAD_MAX_TASKS) — the way Go multiplexes goroutines over a few OS threads. CPU work does hold its thread.
 *
 * A task's signal is its step's hard stop: aborted, Piscina terminates the thread the task runs on, with every task on
 * it. That is the last resort for a step that ignores its cancellation past its grace, or whose thread is stuck
 * (src/threads/pooled-step-runner.ts); cancellation itself is cooperative, through the step's cancel cell.
 *
 * A step's requests to the payment provider come back as messages of its thread (Piscina's 'message' event) the moment
 * the step sends them, apart from its answer: the provider must hear of a charge even if the thread dies before the
 * step ends.
 */
import type { ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { StepBalancer, type PlacedStep } from './step-balancer.js';
import {
  isEffectRequest,
  isLedgerRequest,
  type EffectRequest,
  type LedgerRequest,
  type StepReport,
  type StepTask,
  type WorkerSetup,
} from './protocol.js';
import { ThreadRegistry, type ThreadExit } from './thread-registry.js';
import { stepWorkerEntry } from './worker-entry.js';

/** The pool's line of steps waiting for a thread is full. */
export class PoolSaturated extends Error {
  constructor(limit: number) {
    super(`the worker pool's queue is full (${limit} tasks waiting for a thread)`);
    this.name = 'PoolSaturated';
  }
}

export interface StepPoolOptions<TakenBack> {
  readonly threads: number;
  /** Most steps one thread runs at once. */
  readonly tasksPerThread: number;
  /** Most steps waiting for a thread, beyond which steps are refused (PoolSaturated). */
  readonly queueLimit: number;
  /** The worker entry module (workers/step-worker). */
  readonly workerFile: URL;
  /** Per-thread limits; a thread over its heap limit dies alone and is replaced. */
  readonly resourceLimits?: ResourceLimits;
  readonly workerSetup: WorkerSetup;
  /** Give back the shared memory a dead thread held (tracker share, courier slots). */
  readonly reclaim: (threadId: number) => TakenBack;
  /** Whether a thread is executing a step's code at this moment, not waiting in its event loop (the tracker's mark). */
  readonly executingStep: (threadId: number) => boolean;
  readonly onThreadExit: (exit: ThreadExit<TakenBack>) => void;
  /** A step sent the payment provider a request. */
  readonly onLedgerRequest: (request: LedgerRequest) => void;
  /** A step sent the service it acts on a request for its effect. */
  readonly onEffectRequest: (request: EffectRequest) => void;
  /** A step's task has settled: what its thread finished computing may be known now. */
  readonly onTaskSettled?: () => void;
}

/**
 * A step as the pool runs it: the balancer's record of where it went (PlacedStep), and its hard stop — the task's
 * signal, which Piscina listens to with one listener. The step's own record on the main thread
 * (src/threads/pooled-step-runner.ts), not an AbortController per step.
 */
export interface PooledStep extends PlacedStep {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export class StepPool<TakenBack> {
  readonly registry: ThreadRegistry<TakenBack>;
  private readonly piscina: Piscina;
  private readonly balancer: StepBalancer;
  private readonly queueLimit: number;
  private readonly onTaskSettled: (() => void) | undefined;
  private threadUp: PromiseWithResolvers<void> | undefined;

  constructor(options: StepPoolOptions<TakenBack>) {
    this.queueLimit = options.queueLimit;
    this.onTaskSettled = options.onTaskSettled;
    this.registry = new ThreadRegistry(options.reclaim, (exit) => {
      this.balancer.forget(exit.threadId);
      options.onThreadExit(exit);
    });
    this.balancer = new StepBalancer({
      tasksPerThread: options.tasksPerThread,
      // Only a thread the registry watches: Piscina offers a replacement still starting, and one that took a step then
      // died before its ready was read (a busy main thread reads its error first) was never tracked — its exit unseen,
      // its share of the tracker never given back, its steps' losses taken for refusals. It is tracked once ready.
      accepts: (threadId) => this.registry.accepts(threadId),
      eventLoopOf: (threadId) => this.registry.eventLoopOf(threadId),
      executingStep: options.executingStep,
    });
    this.piscina = new Piscina({
      ...stepWorkerEntry(options.workerFile),
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: options.tasksPerThread,
      // A thread runs many sleeping steps at once: between tasks it waits in its event loop, never blocked on a word.
      atomics: 'disabled',
      execArgv: [],
      resourceLimits: options.resourceLimits,
      workerData: options.workerSetup,
      loadBalancer: this.balancer.pick,
      recordTiming: true,
    });
    // Piscina announces a thread once it is ready — its first threads at once, as it starts them.
    this.piscina.on('workerCreate', (created: { id: number }) => {
      const worker = this.piscina.threads.find((thread) => thread.threadId === created.id);
      if (!worker) return;
      this.registry.track(worker);
      this.threadUp?.resolve();
      this.threadUp = undefined;
    });
    this.piscina.on('message', (message: unknown) => {
      if (isLedgerRequest(message)) options.onLedgerRequest(message);
      else if (isEffectRequest(message)) options.onEffectRequest(message);
    });
    // Piscina reports a thread that failed with no task to blame as an 'error' event; the registry has dealt with it.
    this.piscina.on('error', () => {});
  }

  /**
   * Run `task` on a thread. Resolves with its report; rejects if the pool refused it (PoolSaturated, a closed pool) or
   * its thread was lost under it — `step.placedOn` then names the thread, if it reached one.
   */
  run(task: StepTask, step: PooledStep): Promise<StepReport> {
    if (this.piscina.queueSize >= this.queueLimit) return Promise.reject(new PoolSaturated(this.queueLimit));
    // The balancer reads the step from the task; the symbol's property is not copied to the thread.
    const running = this.piscina.run({ ...task, [Piscina.queueOptionsSymbol]: step }, { signal: step });
    return running.finally(() => {
      this.balancer.ended(step);
      this.onTaskSettled?.();
    }) as Promise<StepReport>;
  }

  /**
   * Undefined while a thread is up and not doomed; else settled once one is (a lost one's replacement has started): a
   * step posted meanwhile would wait in the queue, and a compensation's deadline must not pass while it does.
   */
  whenThreadUp(): Promise<void> | undefined {
    if (this.registry.acceptingCount > 0) return undefined;
    return (this.threadUp ??= Promise.withResolvers()).promise;
  }

  get threadCount(): number {
    return this.piscina.threads.length;
  }

  /** Tasks ended on the threads. */
  get completed(): number {
    return this.piscina.completed;
  }

  /** Steps waiting for a thread in Piscina's queue. */
  get queued(): number {
    return this.piscina.queueSize;
  }

  /** Piscina's figures of its tasks: how long they waited for a thread, and ran on it (ms). */
  get histogram(): Piscina['histogram'] {
    return this.piscina.histogram;
  }

  /** The busy share of the threads' event loops since each started, on average (0..1). */
  get utilization(): number {
    const threads = this.piscina.threads;
    let busy = 0;
    for (const worker of threads) busy += worker.performance.eventLoopUtilization().utilization;
    return threads.length === 0 ? 0 : busy / threads.length;
  }

  /** Stop the threads; the steps still waiting for one are told they will have none. */
  close(): Promise<void> {
    this.registry.markClosing();
    return this.piscina.destroy();
  }
}
