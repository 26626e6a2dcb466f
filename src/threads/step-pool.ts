/**
 * The worker pool steps run on. Piscina owns the threads: it starts `threads` of them, replaces one that dies and
 * terminates them at shutdown; the registry (thread-registry.ts) follows their lives. Piscina runs no task of ours:
 * every step goes to its thread by the thread's ring in shared memory, and its report and its requests to the payment
 * provider come back by the thread's other ring (step-rings.ts). Piscina's balancer never sees a step, so placing them
 * is ours: ring-placement.ts is the pool's one balancer.
 *
 * A step that waits (for its delay, or for a courier) holds no thread, so a few threads serve thousands of waiting
 * steps — the way Go multiplexes goroutines over a few OS threads. CPU work does hold its thread.
 *
 * The steps posted in one turn of the event loop leave together at its end: an order's steps that do no CPU work as one
 * batch, a computing step as a batch of its own, written into the rings of the threads placement picks, with at most
 * one wake-up per thread (none for a thread awake). What one turn writes to one thread counts as one task there, up to
 * `tasksPerThread`. Batches no thread can take now — every thread at its limit or not reading its ring, or none ready
 * yet — wait in the pool's own line, in order, bounded by `queueLimit` (PoolSaturated beyond it). A thread that stops
 * reading has what it left unread taken back and placed again (ring-thread.ts). A thread that exits has its last
 * reports read, and its steps still out are told lost: the step runner waits for the exit and judges them.
 */
import type { ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { OrderRun } from '../domain/order.js';
import { IndexTable } from '../shared-memory/index-table.js';
import type { WordRing } from '../shared-memory/word-ring.js';
import { batchOf, type BatchedReport, type LedgerRequest, type StepTask, type WorkerSetup } from './protocol.js';
import { PoolTimings } from './pool-timings.js';
import { threadForComputing, threadsForTurn, type TaskPlacement } from './ring-placement.js';
import { RingThread } from './ring-thread.js';
import { readLedgerRequest, readReport, writeBatch, type StepRings } from './step-rings.js';
import { ThreadRegistry, type ThreadExit } from './thread-registry.js';
import { stepWorkerEntry } from './worker-entry.js';

/** The pool's line of batches waiting for a thread is full. */
export class PoolSaturated extends Error {
  constructor(limit: number) {
    super(`the worker pool's queue is full (${limit} tasks waiting for a thread)`);
    this.name = 'PoolSaturated';
  }
}

/** A thread is gone with steps of its ring in flight. */
export class RingThreadLost extends Error {
  constructor(threadId: number) {
    super(`thread ${threadId} exited with steps of its ring in flight`);
    this.name = 'RingThreadLost';
  }
}

export interface StepPoolOptions<TakenBack> {
  readonly threads: number;
  /** Most pool tasks one thread runs at once (a computing step, or the batches one turn writes to it). */
  readonly tasksPerThread: number;
  /** Most batches waiting for a thread, beyond which steps are refused (PoolSaturated). */
  readonly queueLimit: number;
  /** The worker entry module (workers/step-worker). */
  readonly workerFile: URL;
  /** Per-thread limits; a thread over its heap limit dies alone and is replaced. */
  readonly resourceLimits?: ResourceLimits;
  readonly workerSetup: WorkerSetup;
  /** The rings steps go by (their buffers in `workerSetup.stepRings`). */
  readonly rings: StepRings;
  /** How many cancel cells there are: a step out in a ring is known by its cell. */
  readonly cells: number;
  /** Give back the shared memory a dead thread held (tracker share, courier slots). */
  readonly reclaim: (threadId: number) => TakenBack;
  readonly onThreadExit: (exit: ThreadExit<TakenBack>) => void;
  /** A step sent the payment provider a request. */
  readonly onLedgerRequest: (request: LedgerRequest) => void;
  /** A thread wrote something (a report, a request): what its steps have finished computing may be known now. */
  readonly onThreadWrote?: () => void;
}

/**
 * Where a posted step's ending goes, once: its report, or why it has none (its thread lost, the pool refusing it). The
 * step's own record on the main thread (src/threads/pooled-step-runner.ts), not a promise and two closures per step.
 */
export interface PostedStep {
  /** The run it is a step of: its requests to the payment provider are filed under it. */
  readonly run: OrderRun;
  reported(report: BatchedReport): void;
  lost(error: unknown): void;
}

/** A step posted, from its turn's end until it is told its ending. */
interface Posting {
  readonly task: StepTask;
  readonly placement: TaskPlacement;
  readonly step: PostedStep;
  /** When its turn ended (one reading of the clock a turn): the wait of its task is measured from it. */
  postedAt: number;
  /** Its report, or else why it has none. */
  report: BatchedReport | undefined;
  lostTo: unknown;
}

/** What one turn wrote into one thread's ring: one task on the thread, until every step of it has its answer. */
interface RingTask {
  readonly thread: RingThread;
  readonly writtenAt: number;
  unsettled: number;
}

/** A step in a thread's ring, waiting for its report. */
interface InRing {
  readonly task: RingTask;
  readonly posting: Posting;
}

/** How soon the line, or a thread stalled with nobody to take its batches, is looked at again. */
const LINE_LOOK_MS = 1;

/**
 * @typeParam TakenBack What the pool's owner takes back of a thread that exits (its share of the shared memory):
 * `reclaim`'s answer.
 */
export class StepPool<TakenBack> {
  readonly registry: ThreadRegistry<TakenBack>;
  private readonly piscina: Piscina;
  private readonly rings: StepRings;
  private readonly queueLimit: number;
  private readonly tasksPerThread: number;
  private readonly onLedgerRequest: (request: LedgerRequest) => void;
  private readonly onThreadWrote: (() => void) | undefined;
  private readonly moduleIndex = new Map<string, number>();
  /** Steps posted in this turn of the event loop, not yet sent. */
  private postings: Posting[] = [];
  /** Postings whose ending is known and not told yet (`tell`). */
  private toTell: Posting[] = [];
  /** Batches waiting for a thread that can take them, in order. */
  private line: Posting[][] = [];
  /** Every thread ready with its rings, by threadId, until it exits. */
  private readonly threads = new Map<number, RingThread>();
  /** Threads ready that no pair of rings was free for yet: one is looked for at every placement. */
  private readonly unpaired = new Set<number>();
  /** Settled once a thread is up with its rings, asked for while none is (`whenThreadUp`). */
  private threadUp: PromiseWithResolvers<void> | undefined;
  /** Steps written to a ring, by cell, until their report is read, they are taken back, or their thread exits. */
  private readonly inRings: IndexTable<InRing>;
  private tasksEnded = 0;
  /** How long tasks waited for a thread and ran on it, since start. */
  readonly timings = new PoolTimings();
  /** The one timer that looks again at threads not reading and at the line; when it fires. */
  private watch: NodeJS.Timeout | undefined;
  private watchAt = Infinity;

  constructor(options: StepPoolOptions<TakenBack>) {
    this.queueLimit = options.queueLimit;
    this.tasksPerThread = options.tasksPerThread;
    this.onLedgerRequest = options.onLedgerRequest;
    this.onThreadWrote = options.onThreadWrote;
    this.rings = options.rings;
    this.inRings = new IndexTable(options.cells);
    options.workerSetup.stepModules.forEach((module, index) => this.moduleIndex.set(module, index));
    this.registry = new ThreadRegistry(options.reclaim, (exit) => {
      this.threadExited(exit.threadId);
      options.onThreadExit(exit);
    });
    this.piscina = new Piscina({
      ...stepWorkerEntry(options.workerFile),
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: Infinity,
      // Piscina is never given a task, so its threads need not wait for one on its shared word: messages only.
      atomics: 'disabled',
      execArgv: [],
      resourceLimits: options.resourceLimits,
      workerData: options.workerSetup,
    });
    // Piscina announces a thread once it is ready — its first threads at once, as it starts them — and only then is it
    // tracked and given its rings: a thread that dies before it is ready makes Piscina stop replacing threads for good,
    // so no step may be what kills it. Steps written to a thread still loading its step modules wait in its ring.
    this.piscina.on('workerCreate', (created: { id: number }) => {
      const worker = this.piscina.threads.find((thread) => thread.threadId === created.id);
      if (!worker) return;
      this.registry.track(worker);
      this.unpaired.add(worker.threadId);
      this.pairThreads();
      if (this.line.length > 0) this.place([]);
    });
    // Piscina reports a thread that failed with no task to blame as an 'error' event; the registry has already dealt
    // with the thread.
    this.piscina.on('error', () => {});
  }

  /**
   * Post a step; `step` is told its report, or that it has none (its thread lost, or the pool refusing it), once and
   * never within this call. Call `settled` with its placement once it has been.
   *
   * The step leaves at the end of the current turn of the event loop (an immediate: once every request read in this
   * turn has been handled), with the other steps posted in the same turn.
   */
  run(task: StepTask, placement: TaskPlacement, step: PostedStep): void {
    const posting: Posting = { task, placement, step, postedAt: 0, report: undefined, lostTo: undefined };
    // Refused if the line is full already; the limit is held again as the turn's batches wait.
    if (this.line.length >= this.queueLimit) return this.refuse(posting, new PoolSaturated(this.queueLimit));
    if (this.postings.length === 0) {
      setImmediate(() => this.postBatches());
      // The main thread reads its report rings at the end of this turn: until then no thread need wake it.
      for (const thread of this.threads.values()) thread.stayAwake();
    }
    this.postings.push(posting);
  }

  /** Undefined while a thread is up with its rings; else settled once one is (a lost one's replacement has started). */
  whenThreadUp(): Promise<void> | undefined {
    if (this.threads.size > 0) return undefined;
    return (this.threadUp ??= Promise.withResolvers()).promise;
  }

  /** The step is over: the CPU it was placed with is no longer owed by its thread. */
  settled(placement: TaskPlacement): void {
    if (placement.cpuMs === 0 || placement.placedOn === undefined) return;
    const thread = this.threads.get(placement.placedOn);
    if (thread) thread.owedCpuMs = Math.max(0, thread.owedCpuMs - placement.cpuMs);
  }

  get threadCount(): number {
    return this.piscina.threads.length;
  }

  /** Tasks ended on the threads: every step of what a turn wrote to a thread answered. */
  get completed(): number {
    return this.tasksEnded;
  }

  /** Batches waiting for a thread in the pool's line. */
  get queued(): number {
    return this.line.length;
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
    clearTimeout(this.watch);
    const closed = new Error('the worker pool is closed');
    for (const batch of this.line) for (const posting of batch) this.refuse(posting, closed);
    this.line = [];
    return this.piscina.destroy();
  }

  /**
   * Endings are told once the pool's own bookkeeping is done (a thread's place freed, the batches waiting for it
   * written): not from inside it, where a step's order going on at once (a compensation posted) would find it half
   * done. All those of one stretch of the main thread's work together, in one microtask.
   */
  private answer(posting: Posting, report: BatchedReport): void {
    posting.report = report;
    this.tell(posting);
  }

  private refuse(posting: Posting, error: unknown): void {
    posting.lostTo = error;
    this.tell(posting);
  }

  private tell(posting: Posting): void {
    if (this.toTell.push(posting) === 1) queueMicrotask(this.tellEndings);
  }

  private readonly tellEndings = (): void => {
    const told = this.toTell;
    this.toTell = [];
    for (const { step, report, lostTo } of told) {
      if (report) step.reported(report);
      else step.lost(lostTo);
    }
  };

  /** The turn's steps leave: an order's steps that do no CPU work as one batch, a computing step alone. */
  private postBatches(): void {
    const postings = this.postings;
    this.postings = [];
    const now = performance.now();
    const batches: Posting[][] = [];
    const together = new Map<StepTask['order'], Posting[]>();
    for (const posting of postings) {
      posting.postedAt = now;
      if (posting.placement.cpuMs > 0) {
        batches.push([posting]);
        continue;
      }
      const batch = together.get(posting.task.order);
      if (batch) batch.push(posting);
      else {
        const started = [posting];
        together.set(posting.task.order, started);
        batches.push(started);
      }
    }
    this.place(batches, now);
    // As `run` promised the threads: the reports they wrote this turn are read now.
    for (const thread of this.threads.values()) thread.look();
  }

  /**
   * The batches waiting in the line, then `batches`, into the rings of the threads that keep up (which, in what order:
   * ring-placement.ts), one task a thread this turn and a computing step's a task of its own; what no thread can take
   * now waits in the line.
   */
  private place(batches: Posting[][], now = performance.now()): void {
    const waiting = this.line.length > 0 ? [...this.line, ...batches] : batches;
    this.line = [];
    if (waiting.length === 0) return;
    if (this.unpaired.size > 0) this.pairThreads();
    const candidates: RingThread[] = [];
    for (const thread of this.threads.values())
      if (this.registry.accepts(thread.threadId) && thread.ringTasks < this.tasksPerThread && !thread.stalled(now))
        candidates.push(thread);
    const left: Posting[][] = [];
    const plain: Posting[][] = [];
    for (const batch of waiting) {
      const { cpuMs } = batch[0]!.placement;
      if (cpuMs === 0) {
        plain.push(batch);
        continue;
      }
      // A task of its own: the thread must still have room for one.
      const thread = threadForComputing(candidates.filter(({ ringTasks }) => ringTasks < this.tasksPerThread));
      const task = thread === undefined ? undefined : this.write(thread, batch, undefined, now);
      if (task === undefined) left.push(batch);
      else {
        task.thread.owedCpuMs += cpuMs;
        this.taskWritten(task, now);
      }
    }
    const roomy = candidates.filter(({ ringTasks }) => ringTasks < this.tasksPerThread);
    const chosen = threadsForTurn(roomy, plain.length);
    if (chosen.length === 0) left.push(...plain);
    for (let t = 0; t < chosen.length; t++) {
      let task: RingTask | undefined;
      for (let i = t; i < plain.length; i += chosen.length) {
        const written = this.write(chosen[t]!, plain[i]!, task, now);
        if (written) task = written;
        else left.push(plain[i]!);
      }
      if (task) this.taskWritten(task, now);
    }
    for (const batch of left) {
      if (this.line.length < this.queueLimit) this.line.push(batch);
      else for (const posting of batch) this.refuse(posting, new PoolSaturated(this.queueLimit));
    }
    this.armWatch(now);
  }

  /** One order's batch into a thread's ring, as part of `task` (a new one if none); undefined if the ring is full. */
  private write(
    thread: RingThread,
    postings: Posting[],
    task: RingTask | undefined,
    now: number,
  ): RingTask | undefined {
    // A step in a ring is known by its cell, unique while the step is out: its report comes back under it.
    const steps = postings.map(({ task: step }) => ({ cell: step.cell, module: step.module }));
    const batch = batchOf(postings[0]!.task, steps);
    if (!writeBatch(thread.pair.tasks, batch, (module) => this.moduleIndex.get(module) ?? -1)) return undefined;
    const written = task ?? { thread, writtenAt: now, unsettled: 0 };
    if (!task) this.timings.taskWaited(now - postings[0]!.postedAt);
    for (const posting of postings) {
      posting.placement.placedOn = thread.threadId;
      this.inRings.set(posting.task.cell, { task: written, posting });
    }
    written.unsettled += postings.length;
    return written;
  }

  /** A task's batches are in its thread's ring: published, the thread woken if it waits, counted on it. */
  private taskWritten({ thread, unsettled }: RingTask, now: number): void {
    thread.ringTasks++;
    thread.ringSteps += unsettled;
    thread.wrote(now);
  }

  /**
   * A step of a ring task has its answer (or is lost with its thread), or is taken back. The task's last one frees its
   * place on the thread, and once answered the batches waiting for one leave at once, before the answer is read: an
   * order that posts again on it finds them gone.
   */
  private leftRing(task: RingTask, answered: boolean): void {
    task.thread.ringSteps--;
    if (--task.unsettled > 0) return;
    task.thread.ringTasks--;
    if (!answered) return;
    this.tasksEnded++;
    this.timings.taskRan(performance.now() - task.writtenAt);
    if (this.line.length > 0) this.place([]);
  }

  /** A pair of rings for each thread ready without one (the thread finds it: workers/step-worker.ts). */
  private pairThreads(): void {
    for (const threadId of this.unpaired) {
      const pair = this.registry.accepts(threadId) ? this.rings.claim(threadId) : undefined;
      if (!pair) continue;
      this.unpaired.delete(threadId);
      this.threads.set(threadId, new RingThread(threadId, pair, (at) => this.reportRead(threadId, pair.reports, at)));
    }
    if (this.threads.size === 0) return;
    this.threadUp?.resolve();
    this.threadUp = undefined;
  }

  /** A thread's report, or a request of one of its steps to the payment provider. */
  private reportRead(threadId: number, ring: WordRing, at: number): void {
    this.onThreadWrote?.();
    const ledger = readLedgerRequest(ring, at);
    if (ledger) {
      // A request whose step is no longer out (its thread judged lost) is dropped: its cell's note has it applied when
      // the step is settled. The order and run are the step's: they do not travel.
      const inRing = this.inRings.get(ledger.cell);
      if (inRing?.task.thread.threadId !== threadId) return;
      const { run } = inRing.posting.step;
      this.onLedgerRequest({
        op: ledger.op,
        order: run.key,
        run: run.runNumber,
        amount: ledger.amount,
        test: ledger.test,
      });
      return;
    }
    const { cell, report } = readReport(ring, at);
    const inRing = this.inRings.get(cell);
    // Only this thread's step of that cell: a cell names one step out at a time, on one thread.
    if (inRing?.task.thread.threadId !== threadId) return;
    this.inRings.delete(cell);
    this.answer(inRing.posting, report);
    this.leftRing(inRing.task, true);
  }

  /**
   * Look again, once due, at the threads that may have stopped reading, and at the line: one timer for all, armed while
   * a write is unread or a batch waits.
   */
  private armWatch(now: number): void {
    let at = this.line.length > 0 ? now : Infinity;
    for (const thread of this.threads.values()) at = Math.min(at, thread.takeBackAt() ?? Infinity);
    if (at === Infinity) return;
    // Not sooner than LINE_LOOK_MS from now: a thread owing a take-back with no other to take it is looked at again.
    at = Math.max(at, now + LINE_LOOK_MS);
    if (at >= this.watchAt) return;
    clearTimeout(this.watch);
    this.watchAt = at;
    this.watch = setTimeout(this.watched, Math.max(0, at - now));
    this.watch.unref();
  }

  private readonly watched = (): void => {
    this.watch = undefined;
    this.watchAt = Infinity;
    const now = performance.now();
    const threads = [...this.threads.values()];
    const keepingUp = threads.some((thread) => !thread.stalled(now) && this.registry.accepts(thread.threadId));
    // What a thread not reading left unread goes to one that keeps up, before what the line holds.
    const withdrawn: Posting[][] = [];
    for (const thread of threads)
      if (keepingUp && thread.owesTakeBack(now)) thread.withdraw((cells) => withdrawn.push(this.takeBack(cells)));
    if (withdrawn.length > 0) this.line = [...withdrawn.filter((batch) => batch.length > 0), ...this.line];
    if (this.line.length > 0) this.place([]);
    else this.armWatch(now);
  };

  /** The steps of a batch taken back from a thread's ring: no longer on it, to be placed again. */
  private takeBack(cells: readonly number[]): Posting[] {
    const postings: Posting[] = [];
    for (const cell of cells) {
      const inRing = this.inRings.get(cell);
      if (!inRing) continue;
      this.inRings.delete(cell);
      const { posting, task } = inRing;
      this.settled(posting.placement);
      posting.placement.placedOn = undefined;
      postings.push(posting);
      this.leftRing(task, false);
    }
    return postings;
  }

  /** Its last reports read, the steps it still had are lost with it, and its rings are free for another thread. */
  private threadExited(threadId: number): void {
    const thread = this.threads.get(threadId);
    this.threads.delete(threadId);
    this.unpaired.delete(threadId);
    thread?.stop();
    const lost = new RingThreadLost(threadId);
    this.inRings.forEach((inRing, cell) => {
      if (inRing.task.thread.threadId !== threadId) return;
      this.inRings.delete(cell);
      this.refuse(inRing.posting, lost);
      this.leftRing(inRing.task, false);
    });
    const pair = thread?.pair ?? this.rings.ownedBy(threadId);
    if (pair) this.rings.free(pair);
  }
}
