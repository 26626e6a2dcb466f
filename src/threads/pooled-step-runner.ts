/**
 * Runs a step on the worker pool, and owns everything that can go wrong
 * between a step and its thread:
 *
 * - Cancellation crosses into the thread through the task's cancel cell,
 *   cooperatively: the thread is not killed for it.
 * - Last resort: a step still running `graceMs` after its order was canceled
 *   gets its thread terminated if it ignores its cancellation (the thread's
 *   cancellation watch saw it canceled and running twice) or its thread is
 *   stuck (its progress count — moved by every step it starts or finishes,
 *   every turn of its event loop and every slice of CPU work — stood still
 *   for the whole period). A thread that is only busy — working through a
 *   backlog — is judged again a period later. The order is answered all the
 *   same.
 * - A lost thread — terminated, crashed, exited, out of memory — took every
 *   task on it, including steps of orders that did nothing wrong. A goroutine
 *   cannot be killed; a thread can, with everything on it. So each step that
 *   was on it is settled by what is known: canceled if its order was already
 *   canceled; failed (internal) if it is the culprit; otherwise run once more
 *   on another thread, and if its thread is lost under it again, failed with
 *   thread_lost — the infrastructure's failure, not the order's. The culprit
 *   is the step the thread was terminated for, if it was terminated for
 *   ignoring its cancellation (never the innocent step that happened to be on
 *   the CPU); else the step named by the thread's last words, or, when it died
 *   without any (out of memory, stuck), the step its on-CPU marker names.
 * - Whatever a step asked of its remote service is settled with the service
 *   once each attempt is over, so the outcome says what the service did
 *   (its effect), even of a step that never got to report.
 */
import { abortKind } from '../domain/errors.js';
import { cpuMsOf, type OrderRun } from '../domain/order.js';
import { DEFAULT_TIER, rankOf } from '../domain/tier.js';
import type { Trace } from '../domain/trace.js';
import type {
  ActionDefinition,
  AttemptTiming,
  StepEffect,
  StepOutcome,
  StepRecorder,
  StepRunner,
  ThreadFate,
} from '../pipeline/steps.js';
import type { CancelCellAllocator } from '../shared-memory/cancel-cells.js';
import type { ReclaimedShard } from '../shared-memory/step-tracker.js';
import type { CpuTurn, CpuTurns } from './cpu-turns.js';
import { threadOf, type TaskPlacement } from './placement.js';
import { readReport, type BatchedReport, type ReadReport } from './protocol.js';
import { PoolSaturated, type StepPool } from './step-pool.js';
import type { TasksInFlight } from './tasks-in-flight.js';
import type { ThreadExit } from './thread-registry.js';

/** What the composition root gives back when a thread exits. */
export interface Reclaimed {
  readonly tracker: ReclaimedShard | undefined;
  readonly courierSlots: number;
}

interface StepEvent {
  readonly requestId: string;
  /** The order's trace id, if it has one. */
  readonly traceId?: string;
  readonly orderId: string;
  readonly step: string;
}

export interface StepLog {
  /** A step failed on its own (a bug in the step): the details the client never sees. */
  stepCrashed(event: StepEvent & { threadId: number; detail: string }): void;
  /** A step lost its thread. */
  threadLost(event: StepEvent & { threadId: number; blamed: boolean; retry: boolean; fate: ThreadFate }): void;
  /** The pool refused a task without losing a thread: full, or broken. */
  refused(event: StepEvent & { saturated: boolean; error: unknown }): void;
}

export interface PooledStepRunnerOptions {
  /** How long a canceled step may keep running before its thread is judged. */
  readonly graceMs: number;
  /** A count that moves while a thread makes progress (the tracker's); undefined before its first step. */
  readonly threadProgress: (threadId: number) => number | undefined;
  /** Runs of a step whose thread keeps getting lost under it, the first included. */
  readonly maxAttempts: number;
  /**
   * What became of what a task asked of its remote service, as its cell
   * recorded it (`requests`, 0 if nothing): asked of the service itself once
   * the task is over. Undefined: nothing was asked.
   */
  readonly settleRequests: (requests: number, run: OrderRun) => Promise<StepEffect | undefined>;
  /** Where each attempt in flight is noted, by its cell, for whoever watches the threads. */
  readonly tasksInFlight?: TasksInFlight;
  /**
   * A client's index in shared memory and its weight (src/clients/client-book.ts); without: every order is client 0,
   * weighing 1.
   */
  readonly clientOf?: (client: string) => { readonly index: number; readonly weight: number };
  /**
   * Turns of thread time for computing steps, shared fairly between clients; without: a computing step is posted at
   * once.
   */
  readonly cpuTurns?: CpuTurns;
  /** Told of each step as it ends, with when each of its attempts ran (the order's trace); without: no timings kept. */
  readonly recorder?: StepRecorder;
}

type Attempt = (
  | { readonly type: 'reported'; readonly report: BatchedReport }
  /** saturated: no room (the pool's queue is full, or every cancel cell is taken) rather than a fault. */
  | { readonly type: 'refused'; readonly saturated: boolean; readonly error: unknown }
  | { readonly type: 'thread-lost'; readonly threadId: number; readonly fate: ThreadFate; readonly blamed: boolean }
  /** Canceled while it waited for a turn of thread time: it never reached a thread. */
  | { readonly type: 'canceled' }
) & { readonly effect?: StepEffect; readonly timing?: AttemptTiming };

export class PooledStepRunner implements StepRunner {
  constructor(
    private readonly pool: StepPool<Reclaimed>,
    private readonly cells: CancelCellAllocator,
    private readonly options: PooledStepRunnerOptions,
    private readonly log: StepLog,
  ) {}

  async run(
    step: ActionDefinition,
    run: OrderRun,
    signal: AbortSignal,
    trace: Trace,
    deadline: number,
  ): Promise<StepOutcome> {
    const started = performance.now();
    const about = {
      requestId: trace.requestId,
      ...(trace.traceId === undefined ? {} : { traceId: trace.traceId }),
      orderId: run.order.orderId,
      step: step.name,
    };
    const { recorder } = this.options;
    const timings: AttemptTiming[] | undefined = recorder?.records(trace) ? [] : undefined;
    let attempts = 0;
    let threadId: number | undefined;
    let threadFate: ThreadFate | undefined;
    let effect: StepEffect | undefined;
    /** `endedEarlierMs`: the step ended that long before its batch's answer arrived. */
    const end = (fields: ReadReport, endedEarlierMs = 0): StepOutcome => {
      const endedAt = performance.now() - endedEarlierMs;
      const outcome: StepOutcome = {
        name: step.name,
        durationMs: Math.max(0, Math.round(endedAt - started)),
        threadId,
        attempts,
        ...(threadFate ? { threadFate } : {}),
        ...(effect ? { effect } : {}),
        ...fields,
      };
      if (timings) recorder?.stepEnded(trace, run, outcome, { startedAt: started, endedAt, attempts: timings });
      return outcome;
    };

    for (;;) {
      if (signal.aborted) return end({ status: 'canceled', cause: abortKind(signal.reason) });
      attempts++;
      const attempt = await this.attempt(step, run, signal, trace, deadline, attempts, timings !== undefined);
      if (attempt.timing) timings?.push(attempt.timing);
      // Attempts share the idempotency key: once the service applied one, it stands.
      if (attempt.effect && effect !== 'applied') effect = attempt.effect;
      switch (attempt.type) {
        case 'reported': {
          const { report } = attempt;
          threadId = report.threadId;
          if (report.status === 'error' && report.kind === 'internal') {
            this.log.stepCrashed({ ...about, threadId: report.threadId, detail: report.detail ?? '' });
          }
          return end(readReport(report, signal), report.endedEarlierMs);
        }
        case 'canceled':
          return end({ status: 'canceled', cause: abortKind(signal.reason) });
        case 'refused':
          this.log.refused({ ...about, saturated: attempt.saturated, error: attempt.error });
          if (signal.aborted) return end({ status: 'canceled', cause: abortKind(signal.reason) });
          return end({ status: 'error', kind: attempt.saturated ? 'overloaded' : 'internal' });
        case 'thread-lost': {
          threadId = attempt.threadId;
          threadFate = attempt.fate;
          const retry = !signal.aborted && !attempt.blamed && attempts < this.options.maxAttempts;
          this.log.threadLost({ ...about, threadId, blamed: attempt.blamed, retry, fate: attempt.fate });
          if (signal.aborted) return end({ status: 'canceled', cause: abortKind(signal.reason) });
          if (!retry) return end({ status: 'error', kind: attempt.blamed ? 'internal' : 'thread_lost' });
        }
      }
    }
  }

  /**
   * One run of the step on some thread, however it ends. A step that
   * computes first waits for its client's turn of thread time, holding
   * nothing meanwhile; the turn is given back when the attempt is over.
   */
  private async attempt(
    step: ActionDefinition,
    run: OrderRun,
    signal: AbortSignal,
    trace: Trace,
    deadline: number,
    attemptNumber: number,
    timed: boolean,
  ): Promise<Attempt> {
    const placement: TaskPlacement = { cpuMs: cpuMsOf(run.order, step.name) };
    const { cpuTurns, clientOf } = this.options;
    const client = clientOf?.(run.order.client);
    let turn: CpuTurn | undefined;
    if (cpuTurns && placement.cpuMs > 0) {
      const taken = cpuTurns.take(
        run.order.client,
        client?.weight ?? 1,
        signal,
        rankOf(run.order.tier ?? DEFAULT_TIER),
      );
      turn = taken instanceof Promise ? await taken : taken;
      if (!turn) return { type: 'canceled' };
    }
    try {
      return await this.attemptOnThread(
        step,
        run,
        signal,
        trace,
        deadline,
        attemptNumber,
        placement,
        client?.index ?? 0,
        timed,
      );
    } finally {
      turn?.release();
    }
  }

  /**
   * One run of the step on some thread, however it ends, and the effect of what it asked. Gives its cell back on every
   * path.
   */
  private async attemptOnThread(
    step: ActionDefinition,
    run: OrderRun,
    signal: AbortSignal,
    trace: Trace,
    deadline: number,
    attemptNumber: number,
    placement: TaskPlacement,
    clientIndex: number,
    timed: boolean,
  ): Promise<Attempt> {
    const { order } = run;
    const { graceMs, threadProgress, tasksInFlight } = this.options;
    let cell: number | undefined;
    let overdue: NodeJS.Timeout | undefined;
    let lastProgress: number | undefined;
    // Last resort: judge the task's thread graceMs after the cancellation, and
    // every graceMs after that until the task ends.
    const judge = (): void => {
      overdue = undefined;
      const threadId = threadOf(placement);
      if (threadId !== undefined && cell !== undefined && !this.cells.cells.hasFinished(cell)) {
        const what = `step ${step.name} of order ${order.orderId}`;
        if (this.cells.cells.timesIgnored(cell) >= 2) {
          this.pool.registry.terminate(threadId, `${what} ignored its cancellation for ${graceMs} ms`, cell);
          return;
        }
        const progress = threadProgress(threadId);
        if (progress === lastProgress) {
          this.pool.registry.terminate(threadId, `thread stuck for ${graceMs} ms with ${what} canceled on it`);
          return;
        }
        lastProgress = progress;
      }
      overdue = setTimeout(judge, graceMs);
    };
    const armGracePeriod = (): void => {
      const threadId = threadOf(placement);
      lastProgress = threadId === undefined ? undefined : threadProgress(threadId);
      overdue = setTimeout(judge, graceMs);
    };
    cell = this.cells.take(signal, armGracePeriod);
    if (cell === undefined) return { type: 'refused', saturated: true, error: new Error('every cancel cell is taken') };
    tasksInFlight?.add(cell, {
      orderId: order.orderId,
      step: step.name,
      attempt: attemptNumber,
      placement,
      since: performance.now(),
    });
    try {
      const postedAt = performance.now();
      const outcome = await this.runOnPool(cell, step, run, trace, deadline, placement, clientIndex);
      const withTiming = timed ? { timing: timingOf(outcome, postedAt) } : {};
      // Over, one way or the other: what it asked of its service is known now.
      const requests = this.cells.cells.requestsOf(cell);
      const effect = requests === 0 ? undefined : await this.options.settleRequests(requests, run);
      return effect ? { ...outcome, ...withTiming, effect } : { ...outcome, ...withTiming };
    } finally {
      clearTimeout(overdue);
      this.pool.settled(placement);
      tasksInFlight?.remove(cell);
      this.cells.give(cell);
    }
  }

  private async runOnPool(
    cell: number,
    step: ActionDefinition,
    { order, runNumber: run }: OrderRun,
    trace: Trace,
    deadline: number,
    placement: TaskPlacement,
    clientIndex: number,
  ): Promise<Attempt> {
    try {
      const remainingMs = Math.max(0, deadline - performance.now());
      const task = {
        cell,
        module: step.module,
        order,
        run,
        requestId: trace.requestId,
        ...(trace.traceId === undefined ? {} : { traceId: trace.traceId }),
        remainingMs,
        ...(clientIndex ? { clientIndex } : {}),
      };
      return { type: 'reported', report: await this.pool.run(task, placement) };
    } catch (error) {
      const threadId = threadOf(placement);
      if (threadId === undefined || !this.pool.registry.isDoomed(threadId))
        return { type: 'refused', saturated: error instanceof PoolSaturated, error };
      // The thread is gone or going. Wait until it has exited and its
      // share of the tracker and the courier pool is back; only then is it
      // true that nothing of this step runs.
      const exit: ThreadExit<Reclaimed> = await this.pool.registry.whenExited(threadId);
      return {
        type: 'thread-lost',
        threadId,
        fate: exit.cause === 'terminated' ? 'terminated' : 'died',
        blamed: this.isCulprit(cell, exit),
      };
    }
  }

  /**
   * Whether the step in `cell` is what cost its thread its life. A thread
   * terminated for ignoring cancellation names its culprit, and only that one;
   * otherwise the thread's last words name it, or, if it died without any,
   * the on-CPU marker.
   */
  private isCulprit(cell: number, exit: ThreadExit<Reclaimed>): boolean {
    if (exit.culprit !== undefined) return exit.culprit === cell;
    return this.cells.cells.isFaulted(cell) || exit.reclaimed.tracker?.onCpuCell === cell;
  }
}

/**
 * An attempt laid on the main thread's clock: it ended when its report arrived less how much earlier its thread said
 * it ended, and began on its thread as long before that as the thread says it ran. A thread that died says nothing:
 * its attempt ended when its death was known.
 */
function timingOf(attempt: Attempt, postedAt: number): AttemptTiming {
  const now = performance.now();
  switch (attempt.type) {
    case 'reported': {
      const { report } = attempt;
      const endedAt = now - report.endedEarlierMs;
      const startedAt = report.ranMs === undefined ? undefined : Math.max(postedAt, endedAt - report.ranMs);
      const wait = report.courierWaitMs;
      return {
        postedAt,
        endedAt,
        threadId: report.threadId,
        ...(startedAt === undefined ? {} : { startedAt }),
        ...(startedAt !== undefined && wait
          ? { courierWait: { from: startedAt + wait[0], to: startedAt + wait[0] + wait[1] } }
          : {}),
      };
    }
    case 'thread-lost':
      return { postedAt, endedAt: now, threadId: attempt.threadId, threadFate: attempt.fate };
    case 'refused':
    case 'canceled':
      return { postedAt, endedAt: now };
  }
}
