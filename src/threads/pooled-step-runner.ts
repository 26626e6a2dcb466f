/**
 * Runs a step on the worker pool, and owns everything that can go wrong between a step and its thread:
 *
 * - Cancellation crosses into the thread through the task's cancel cell, cooperatively: the thread is not killed for
 *   it.
 * - A step canceled before a thread took it leaves the pool's queue at once (its task's signal aborted).
 * - Last resort: a step still running `graceMs` after its order was canceled gets its thread terminated — its task's
 *   signal aborted, which Piscina answers by terminating the thread — if it ignores its cancellation (its cell says it
 *   is running its own code, out of every wait of its context, where the cancellation would have ended it) or its
 *   thread is stuck (its progress count — moved by every step it starts, wakes or finishes and every slice of CPU work
 *   — stood still for the whole period, judged on time; a thread that has begun no step has none, and is starting, not
 *   stuck). A thread that is only busy — its canceled step in a wait it has yet to end, behind a backlog — is judged
 *   again a period later. The order is answered all the same.
 * - A lost thread — terminated, crashed, exited, out of memory — took every task on it, including steps of orders that
 *   did nothing wrong. A goroutine cannot be killed; a thread can, with everything on it. So each step that was on it
 *   is settled by what is known: canceled if its order was already canceled; failed (internal) if it is the culprit;
 *   otherwise run once more on another thread, and if its thread is lost under it again, failed with thread_lost — the
 *   infrastructure's failure, not the order's. The culprit is the step the thread was terminated for, if it was
 *   terminated for ignoring its cancellation (never the innocent step that happened to be on the CPU); else the step
 *   named by the thread's last words, or, when it died without any (out of memory, stuck), the step its on-CPU marker
 *   names.
 * - Whatever a step asked of its remote service is settled with the service once each attempt is over, so the outcome
 *   says what the service did (its effect), even of a step that never got to report.
 */
import type { CancelSignal } from '../domain/cancel-signal.js';
import { abortKind } from '../domain/errors.js';
import { cpuMsOf, type ActionName, type OrderRun } from '../domain/order.js';
import { isCompensation } from '../domain/steps.js';
import type { EffectCaller } from '../ledger/service-books.js';
import { DEFAULT_TIER, rankOf } from '../domain/tier.js';
import type { Trace } from '../domain/trace.js';
import type {
  ActionDefinition,
  AttemptTiming,
  EarlierTry,
  StepEffect,
  StepOutcome,
  StepRecorder,
  StepRun,
  StepRunner,
  ThreadFate,
} from '../pipeline/steps.js';
import { DeadlineList } from '../pipeline/deadline-list.js';
import type { CancelCellAllocator, CellHolder } from '../shared-memory/cancel-cells.js';
import type { ReclaimedShard } from '../shared-memory/step-tracker.js';
import type { CpuTurn, CpuTurns } from './cpu-turns.js';
import { readReport, REQUESTED_EFFECT, type ReadReport, type StepReport, type StepTask } from './protocol.js';
import { PoolSaturated, type PooledStep, type StepPool } from './step-pool.js';
import type { TasksInFlight } from './tasks-in-flight.js';
import type { ThreadExit } from './thread-registry.js';
import { CanceledStepJudge, type JudgingParts, type ThreadReadings } from './thread-verdict.js';

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
  /** The threads as the judge of a canceled step's thread reads them. */
  readonly threads: ThreadReadings;
  /** Runs of a step whose thread keeps getting lost under it, the first included. */
  readonly maxAttempts: number;
  /**
   * What became of what a task asked of its remote service, as its cell recorded it (`requests`, 0 if nothing): asked
   * of the service itself once the task is over, as `caller` (the claim the task was posted under). Undefined: nothing
   * was asked, or the service could not be asked.
   */
  readonly settleRequests: (
    requests: number,
    run: OrderRun,
    step: ActionName,
    caller: EffectCaller,
  ) => Promise<StepEffect | undefined>;
  /**
   * Who the steps of a run call their services as: the claim's fence of the run as this instance holds it, and its
   * identity — read as each attempt is posted, so an attempt after a takeover here carries the claim that took it.
   */
  readonly callerOf: (run: number) => EffectCaller;
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

/** How one attempt ended, and what its remote service did of what it asked. */
type Attempt = (
  | { readonly type: 'reported'; readonly report: StepReport }
  /** saturated: no room (the pool's queue is full, or every cancel cell is taken) rather than a fault. */
  | { readonly type: 'refused'; readonly saturated: boolean; readonly error: unknown }
  | { readonly type: 'thread-lost'; readonly threadId: number; readonly fate: ThreadFate; readonly blamed: boolean }
  /** Canceled before it reached a thread: waiting for a turn of thread time, or in the pool's queue. */
  | { readonly type: 'canceled' }
) & {
  effect?: StepEffect;
  timing?: AttemptTiming;
  /** It asked its service for its effect, and the service's books could not be asked what became of it. */
  unconfirmed?: true;
};

/**
 * A step whose effect its service could not confirm (its books, in the store, could not be asked) is no success, for a
 * step recorded ok has its effect in the books: the store's passing failure, which a retry runs again.
 */
const UNCONFIRMED: ReadReport = {
  status: 'error',
  kind: 'store_unavailable',
  cause: undefined,
  dependency: undefined,
  retries: undefined,
};

const CANCELED = (): Attempt => ({ type: 'canceled' });

export class PooledStepRunner implements StepRunner {
  private readonly parts: RunnerParts;

  constructor(pool: StepPool<Reclaimed>, cells: CancelCellAllocator, options: PooledStepRunnerOptions, log: StepLog) {
    // Every canceled step's grace period is judged from one timer.
    this.parts = {
      pool,
      cells,
      options,
      log,
      judging: {
        graceMs: options.graceMs,
        threads: options.threads,
        cells: cells.cells,
        overdue: new DeadlineList<CanceledStepJudge>(),
      },
    };
  }

  /**
   * One step of an order, from its dispatch to its outcome, through as many attempts as its thread's losses allow:
   * each attempt is run on the pool (`OnPool`), and its ending says whether the step ends or runs again.
   */
  async run({ step, run, signal, trace, deadline }: StepRun): Promise<StepOutcome> {
    const { log, options } = this.parts;
    const begunAt = performance.now();
    const timings: AttemptTiming[] | undefined = options.recorder?.records(trace) ? [] : undefined;
    const attempt = new OnPool(this.parts, step, run, signal, trace, deadline);
    const about = (): StepEvent => ({
      requestId: trace.requestId,
      ...(trace.traceId === undefined ? {} : { traceId: trace.traceId }),
      orderId: run.order.orderId,
      step: step.name,
    });
    let threadId: number | undefined;
    let threadFate: ThreadFate | undefined;
    /** Its tries whose thread was lost before it ran again: made only when one is. */
    let earlierTries: EarlierTry[] | undefined;
    let effect: StepEffect | undefined;
    let ending: ReadReport;
    const canceled = (): ReadReport => ({ status: 'canceled', cause: abortKind(signal.reason) });
    for (;;) {
      if (signal.aborted) {
        ending = canceled();
        break;
      }
      const ended = await attempt.next(timings !== undefined);
      if (timings) timings.push(ended.timing ?? timingOf(ended, attempt.postedAt));
      // Attempts share the idempotency key: once the service applied one, it stands.
      if (ended.effect && effect !== 'applied') effect = ended.effect;
      if (ended.type === 'reported') {
        const { report } = ended;
        threadId = report.threadId;
        if (report.status === 'error' && report.kind === 'internal')
          log.stepCrashed({ ...about(), threadId: report.threadId, detail: report.detail ?? '' });
        ending = ended.unconfirmed && report.status === 'ok' ? UNCONFIRMED : readReport(report, signal);
        break;
      }
      if (ended.type === 'canceled') {
        ending = canceled();
        break;
      }
      if (ended.type === 'refused') {
        log.refused({ ...about(), saturated: ended.saturated, error: ended.error });
        ending = signal.aborted ? canceled() : { status: 'error', kind: ended.saturated ? 'overloaded' : 'internal' };
        break;
      }
      threadId = ended.threadId;
      threadFate = ended.fate;
      const retry = !signal.aborted && !ended.blamed && attempt.attempts < options.maxAttempts;
      log.threadLost({ ...about(), threadId: ended.threadId, blamed: ended.blamed, retry, fate: ended.fate });
      if (signal.aborted) {
        ending = canceled();
        break;
      }
      if (!retry) {
        ending = { status: 'error', kind: ended.blamed ? 'internal' : 'thread_lost' };
        break;
      }
      (earlierTries ??= []).push({
        threadId: ended.threadId,
        fate: ended.fate,
        startedMs: Math.round(attempt.postedAt - begunAt),
        endedMs: Math.round(performance.now() - begunAt),
      });
    }
    const endedAt = performance.now();
    // Every field, undefined where it has none: one shape, and no spread, for every step of every order.
    const outcome: StepOutcome = {
      name: step.name,
      status: ending.status,
      durationMs: Math.max(0, Math.round(endedAt - begunAt)),
      threadId,
      kind: ending.kind,
      cause: ending.cause,
      threadFate,
      attempts: attempt.attempts,
      earlierTries,
      effect,
      dependency: ending.dependency,
      retries: ending.retries,
    };
    if (timings) options.recorder?.stepEnded(trace, run, outcome, { startedAt: begunAt, endedAt, attempts: timings });
    return outcome;
  }

  whenReady(): Promise<void> | undefined {
    return this.parts.pool.whenThreadUp();
  }
}

/** What a step in flight uses of its runner. */
interface RunnerParts {
  readonly pool: StepPool<Reclaimed>;
  readonly cells: CancelCellAllocator;
  readonly options: PooledStepRunnerOptions;
  readonly log: StepLog;
  readonly judging: JudgingParts;
}

/**
 * A step's attempts on the pool, one after the other: each waits for its turn of thread time (a computing step), takes
 * a cancel cell, is run on the pool, and, over, settles what it asked of its remote service; its cell and turn are given
 * back on every path. The record is also the attempt's place on the pool (PooledStep): where the balancer put it, and
 * its hard stop — its task's signal — and the holder its cell tells of the order's cancellation (CellHolder), from
 * which its grace period is judged.
 */
class OnPool implements PooledStep, CellHolder {
  attempts = 0;
  /** When the attempt under way was posted to the pool. */
  postedAt = 0;
  // The attempt under way: where the balancer put it (PlacedStep), its hard stop's listener (Piscina's).
  readonly cpuMs: number;
  placedOn: number | undefined = undefined;
  placedAt = 0;
  aborted = false;
  private abortListener: (() => void) | undefined;
  private cell: number | undefined;
  /** Its thread's judge, once its order was canceled while it ran. */
  private judge: CanceledStepJudge | undefined;

  constructor(
    private readonly parts: RunnerParts,
    private readonly step: ActionDefinition,
    private readonly run: OrderRun,
    private readonly signal: CancelSignal,
    private readonly trace: Trace,
    private readonly deadline: number,
  ) {
    this.cpuMs = cpuMsOf(run.order, step.name);
  }

  /** The next attempt, however it ends; `timed`: with its timing, laid on this thread's clock as its answer comes. */
  async next(timed: boolean): Promise<Attempt> {
    this.attempts++;
    this.placedOn = undefined;
    this.aborted = false;
    const { cells, options, pool } = this.parts;
    const { order } = this.run;
    let turn: CpuTurn | undefined;
    // A step that computes first waits for its client's turn of thread time, holding nothing meanwhile.
    if (options.cpuTurns && this.cpuMs > 0) {
      const client = options.clientOf?.(order.client);
      turn = await options.cpuTurns.take(
        order.client,
        client?.weight ?? 1,
        this.signal,
        rankOf(order.tier ?? DEFAULT_TIER),
      );
      if (!turn) return CANCELED();
    }
    try {
      const cell = cells.take(this.signal, this);
      if (cell === undefined)
        return { type: 'refused', saturated: true, error: new Error('every cancel cell is taken') };
      this.cell = cell;
      turn?.givenBackWhen(() => cells.cells.hasComputed(cell));
      // One reading of the clock for the attempt: in a virtual machine a reading can cost more than the rest of this.
      const now = performance.now();
      options.tasksInFlight?.add(cell, {
        orderId: order.orderId,
        step: this.step.name,
        attempt: this.attempts,
        placement: this,
        since: now,
      });
      this.postedAt = now;
      const caller = options.callerOf(this.run.runNumber);
      const task: StepTask = {
        cell,
        module: this.step.module,
        order,
        run: this.run.runNumber,
        fence: caller.fence,
        caller: caller.instance,
        requestId: this.trace.requestId,
        traceId: this.trace.traceId,
        remainingMs: Math.max(0, this.deadline - now),
        clientIndex: options.clientOf?.(order.client).index ?? 0,
      };
      let ended: Attempt;
      try {
        ended = { type: 'reported', report: await pool.run(task, this) };
      } catch (error) {
        ended = await this.lostTo(error);
      }
      if (timed) ended.timing = timingOf(ended, now);
      // Over, one way or the other: what it asked of its service is known now.
      const requests = cells.cells.requestsOf(cell);
      if (requests !== 0) ended.effect = await options.settleRequests(requests, this.run, this.step.name, caller);
      if (requests & REQUESTED_EFFECT && ended.effect === undefined && !isCompensation(this.step.name))
        ended.unconfirmed = true;
      return ended;
    } finally {
      this.release();
      turn?.release();
    }
  }

  /**
   * The pool refused the attempt, or it was taken out of the pool's queue, or its thread is gone or going: then wait
   * until the thread has exited and its share of the tracker and the courier pool is back — only then is it true that
   * nothing of the step runs.
   */
  private async lostTo(error: unknown): Promise<Attempt> {
    const { registry } = this.parts.pool;
    const threadId = this.placedOn;
    // Taken out of the pool's queue as its order was canceled (cellCanceled): it never reached a thread.
    if (threadId === undefined && this.aborted) return CANCELED();
    if (threadId === undefined || !registry.isDoomed(threadId))
      return { type: 'refused', saturated: error instanceof PoolSaturated, error };
    const exit = await registry.whenExited(threadId);
    return {
      type: 'thread-lost',
      threadId,
      fate: exit.cause === 'terminated' ? 'terminated' : 'died',
      blamed: this.isCulprit(exit),
    };
  }

  /** The attempt's cell and grace period, given back. */
  private release(): void {
    const { cells, options } = this.parts;
    this.judge?.dismiss();
    this.judge = undefined;
    const { cell } = this;
    if (cell === undefined) return;
    options.tasksInFlight?.remove(cell);
    cells.give(cell);
    this.cell = undefined;
  }

  /** Whether its thread has begun the attempt (the balancer's question: a thread slow to begin is hung). */
  started(): boolean {
    return this.cell !== undefined && this.parts.cells.cells.hasStarted(this.cell);
  }

  /** Whether the attempt's CPU work is over (the balancer's: its thread owes it no more). */
  computed(): boolean {
    return this.cell === undefined || this.parts.cells.cells.hasComputed(this.cell);
  }

  /** Piscina's: its listener on the attempt's hard stop. */
  addEventListener(_type: 'abort', listener: () => void): void {
    this.abortListener = listener;
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    if (this.abortListener === listener) this.abortListener = undefined;
  }

  /** The attempt's hard stop: Piscina terminates the thread it runs on (the registry was told why first). */
  private hardStop(): void {
    this.aborted = true;
    const listener = this.abortListener;
    this.abortListener = undefined;
    listener?.();
  }

  /**
   * Its order was canceled while the attempt held its cell (CellHolder). Not on a thread yet, it leaves the pool's queue
   * now. On one, the last resort: judge the task's thread graceMs after the cancellation, and every graceMs after that
   * until it ends.
   */
  cellCanceled(): void {
    const threadId = this.placedOn;
    const { cell } = this;
    // Still in the pool's queue: Piscina takes a task whose signal aborts out of its queue, and the step ends canceled
    // at once rather than when a thread is free to see its cell.
    if (threadId === undefined || cell === undefined) return this.hardStop();
    if (this.judge) return;
    const { pool } = this.parts;
    this.judge = new CanceledStepJudge(this.parts.judging, {
      threadId,
      cell,
      what: `step ${this.step.name} of order ${this.run.order.orderId}`,
      stillOn: () => this.placedOn === threadId && this.cell === cell,
      terminate: (reason, culprit) => {
        if (pool.registry.terminating(threadId, reason, culprit)) this.hardStop();
      },
    });
  }

  /**
   * Whether this attempt's step is what cost its thread its life. A thread terminated for ignoring cancellation names
   * its culprit, and only that one; otherwise the thread's last words name it, or, if it died without any, the on-CPU
   * marker.
   */
  private isCulprit(exit: ThreadExit<Reclaimed>): boolean {
    const cell = this.cell!;
    if (exit.culprit !== undefined) return exit.culprit === cell;
    return this.parts.cells.cells.isFaulted(cell) || exit.reclaimed.tracker?.onCpuCell === cell;
  }
}

/**
 * An attempt laid on the main thread's clock: it ended when its report arrived, and began on its thread as long before
 * that as the thread says it ran. A thread that died says nothing: its
 * attempt ended when its death was known.
 */
function timingOf(attempt: Attempt, postedAt: number): AttemptTiming {
  const now = performance.now();
  switch (attempt.type) {
    case 'reported': {
      const { report } = attempt;
      const endedAt = now;
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
