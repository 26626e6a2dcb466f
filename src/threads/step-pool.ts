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
 *
 * With `rings` (STEP_RING=on, the default), the batches of steps that do no
 * CPU work skip Piscina's messages: each is written into the ring of the
 * thread it goes to (an awake thread first: ring-placement.ts), with at most
 * one wake-up per thread per turn, and the steps' reports come back in
 * each thread's other ring (src/threads/step-rings.ts). A thread that exits
 * has its last reports read, and its steps still in flight told lost, as a
 * Piscina task's are: the step runner waits for the exit and judges them the
 * same way. What one turn writes to one thread counts as one task there,
 * up to `tasksPerThread` (batches beyond wait in the pool's own line, which
 * the queue limit bounds with Piscina's). Computing steps, and batches a full
 * ring cannot take, remain Piscina tasks, placed by its balancer; each path
 * counts its own tasks against the limit (Piscina is never told of the
 * rings': it would not look at its queue again when one ended), and the
 * pool's counters (`completed`, `queued`) add up both.
 */
import type { ResourceLimits } from 'node:worker_threads';
import { Piscina, queueOptionsSymbol } from 'piscina';
import type { OrderRun } from '../domain/order.js';
import { Placement, type TaskPlacement } from './placement.js';
import {
  batchOf,
  isThreadMail,
  type BatchedReport,
  type LedgerRequest,
  type ThreadTask,
  type StepTask,
  type WorkerSetup,
} from './protocol.js';
import { IndexTable } from '../shared-memory/index-table.js';
import { RingReader } from '../shared-memory/word-ring.js';
import {
  readLedgerRequest,
  readReport,
  writeBatch,
  type RingLedgerRequest,
  type RingPair,
  type StepRings,
} from './step-rings.js';
import { ThreadRegistry, type ThreadExit } from './thread-registry.js';
import { threadsForTurn, type RingCandidate } from './ring-placement.js';
import { stepWorkerEntry } from './worker-entry.js';

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
  /** The rings steps go by (their buffers in `workerSetup.stepRings`); absent: every step is a Piscina task. */
  readonly rings?: StepRings;
  /** How many cancel cells there are: a step out in a ring is known by its cell. */
  readonly cells: number;
}

/** Move a thread's count by `by`; a thread counting none is not kept. */
function countOn(counts: Map<number, number>, threadId: number, by: number): void {
  const count = (counts.get(threadId) ?? 0) + by;
  if (count > 0) counts.set(threadId, count);
  else counts.delete(threadId);
}

/** What a turn wrote into one thread's ring: one task on the thread, as a Piscina task would be, until every step of it has its answer. */
interface RingTask {
  readonly threadId: number;
  unsettled: number;
}

/** A step in a thread's ring, waiting for its report. */
interface InRing {
  readonly task: RingTask;
  readonly posting: Posting;
}

/** A thread is gone with steps of the rings still on it. */
export class RingThreadLost extends Error {
  constructor(threadId: number) {
    super(`thread ${threadId} exited with steps of its ring in flight`);
    this.name = 'RingThreadLost';
  }
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

/** A step waiting to be posted, in a task, at the end of the current turn, and until it is told its ending. */
interface Posting {
  readonly task: StepTask;
  readonly placement: TaskPlacement;
  readonly step: PostedStep;
  /** Its ending is known: a step answered by its thread's mail is answered again by its Piscina task's result, and the first stands. */
  ended: boolean;
  /** Its report, or else why it has none. */
  report: BatchedReport | undefined;
  lostTo: unknown;
}

const newPosting = (task: StepTask, placement: TaskPlacement, step: PostedStep): Posting => ({
  task,
  placement,
  step,
  ended: false,
  report: undefined,
  lostTo: undefined,
});

/**
 * @typeParam TakenBack What the pool's owner takes back of a thread that exits (its share of the shared memory):
 * `reclaim`'s answer.
 */
export class StepPool<TakenBack> {
  readonly registry: ThreadRegistry<TakenBack>;
  private readonly placement: Placement;
  private readonly piscina: Piscina<ThreadTask, BatchedReport[][]>;
  private readonly queueLimit: number;
  private readonly onLedgerRequest: (request: LedgerRequest) => void;
  /** Steps posted in this turn of the event loop, not yet sent. */
  private postings: Posting[] = [];
  /** Steps of tasks in flight whose reports may come in the thread's mail, by seq. */
  private readonly awaitingMail = new Map<number, Posting>();
  private nextSeq = 0;
  /** Postings whose ending is known and not told yet (`tell`). */
  private toTell: Posting[] = [];
  private readonly rings: StepRings | undefined;
  /** Ring tasks ended (every step answered or lost with its thread): what Piscina's `completed` does not see. */
  private ringTasksEnded = 0;
  private readonly moduleIndex = new Map<string, number>();
  /** Steps written to a thread's ring, by cell, until their report is read or the thread exits. */
  private readonly inRings: IndexTable<InRing>;
  /** Threads whose report ring the main thread reads, with the pair and its reader. */
  private readonly listening = new Map<number, { readonly pair: RingPair; readonly reader: RingReader }>();
  /** Ring tasks running on each thread (RingTask). */
  private readonly ringTasksOn = new Map<number, number>();
  /** Their steps without an answer yet, on each thread: what the rings' placement packs (ring-placement.ts). */
  private readonly ringStepsOn = new Map<number, number>();
  /** Batches waiting for a thread below `tasksPerThread`, in order. */
  private ringWaiting: Posting[][] = [];
  private readonly tasksPerThread: number;

  constructor(options: StepPoolOptions<TakenBack>) {
    this.queueLimit = options.queueLimit;
    this.onLedgerRequest = options.onLedgerRequest;
    this.rings = options.rings;
    this.inRings = new IndexTable(options.cells);
    this.tasksPerThread = options.tasksPerThread;
    options.workerSetup.stepModules.forEach((module, index) => this.moduleIndex.set(module, index));
    this.registry = new ThreadRegistry(options.reclaim, (exit) => {
      this.ringThreadExited(exit.threadId);
      options.onThreadExit(exit);
    });
    this.placement = new Placement(
      options.tasksPerThread,
      (threadId) => this.registry.accepts(threadId),
      (threadId) => this.ringTasksOn.get(threadId) ?? 0,
    );
    this.piscina = new Piscina<ThreadTask, BatchedReport[][]>({
      ...stepWorkerEntry(options.workerFile),
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
      for (const request of message.ledgerRequests) this.onLedgerRequest(request);
      for (const { seq, report } of message.reports) {
        const posting = this.awaitingMail.get(seq);
        if (posting) this.answer(posting, report);
      }
    });
  }

  /**
   * Post a step; `step` is told its report, or that it has none (its thread
   * lost, or the pool refusing it), once and never within this call. Call
   * `settled` with its placement once it has been.
   *
   * The step leaves at the end of the current turn of the event loop (an
   * immediate: once every request read in this turn has been handled), with
   * the other steps posted in the same turn that do no CPU work: its order's
   * (the pipeline posts them together) in one batch, and other orders'
   * batches in the same task, one message per thread.
   */
  run(task: StepTask, placement: TaskPlacement, step: PostedStep): void {
    // Refused if the queue is full already; the limit is held again as the turn's tasks are posted.
    if (this.piscina.queueSize + this.ringWaiting.length >= this.queueLimit) {
      this.refuse(newPosting(task, placement, step), new PoolSaturated(this.queueLimit));
      return;
    }
    if (this.postings.length === 0) {
      setImmediate(() => this.postBatches());
      // The main thread reads its report rings at the end of this turn: until then no thread need wake it.
      for (const { reader } of this.listening.values()) reader.stayAwake();
    }
    this.postings.push(newPosting(task, placement, step));
  }

  /**
   * Endings are told once the pool's own bookkeeping is done (a thread's place freed, the batches waiting for it
   * posted): not from inside it, where a step's order going on at once (a compensation posted) would find it half
   * done. All those of one stretch of the main thread's work together, in one microtask.
   */
  private answer(posting: Posting, report: BatchedReport): void {
    if (posting.ended) return;
    posting.report = report;
    this.tell(posting);
  }

  private refuse(posting: Posting, error: unknown): void {
    if (posting.ended) return;
    posting.lostTo = error;
    this.tell(posting);
  }

  private tell(posting: Posting): void {
    posting.ended = true;
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
    const batches = this.rings ? this.postToRings([...together.values()]) : [...together.values()];
    const tasks = Math.min(batches.length, Math.max(1, this.piscina.threads.length));
    for (let t = 0; t < tasks; t++) this.post(batches.filter((_, i) => i % tasks === t));
    // As `run` promised the threads: the reports they wrote this turn are read now.
    for (const { reader } of this.listening.values()) reader.look();
  }

  /**
   * The batches written into the rings of the threads that take tasks: as Piscina tasks would be, one task a thread
   * this turn (which threads, in what order: ring-placement.ts), none to a thread already running `tasksPerThread`, and batches
   * no thread can take now wait, in order, for a task to end. Returns those a full ring had no room for.
   */
  private postToRings(batches: Posting[][]): Posting[][] {
    const rings = this.rings!;
    const waiting = this.ringWaiting.length > 0 ? [...this.ringWaiting, ...batches] : batches;
    this.ringWaiting = [];
    const threads: Array<RingCandidate & { threadId: number; pair: RingPair }> = [];
    let ready = 0;
    for (const worker of this.piscina.threads) {
      const threadId = worker.threadId;
      if (threadId < 0 || !this.registry.accepts(threadId)) continue;
      const pair = rings.ownedBy(threadId);
      if (!pair) continue;
      ready++;
      const ringTasks = this.ringTasksOn.get(threadId) ?? 0;
      if (ringTasks >= this.tasksPerThread) continue;
      threads.push({
        threadId,
        pair,
        ringSteps: this.ringStepsOn.get(threadId) ?? 0,
        owedCpuMs: this.placement.owedBy(threadId),
        awake: pair.tasks.readerAwake(),
      });
    }
    // No thread ready with its rings (the pool starting, or every thread replaced): Piscina's queue waits for one.
    if (ready === 0) return waiting;
    if (threads.length === 0) {
      this.waitForRingTask(waiting);
      return [];
    }
    const chosen = threadsForTurn(threads, waiting.length);
    const tasks = chosen.length;
    const left: Posting[][] = [];
    for (let t = 0; t < tasks; t++) {
      const { threadId, pair } = chosen[t]!;
      const task = { threadId, unsettled: 0 };
      for (let i = t; i < waiting.length; i += tasks) {
        if (this.writeToRing(pair, task, waiting[i]!)) continue;
        left.push(waiting[i]!);
      }
      if (task.unsettled === 0) continue;
      countOn(this.ringTasksOn, threadId, 1);
      countOn(this.ringStepsOn, threadId, task.unsettled);
      pair.tasks.publish();
      pair.tasks.wake();
      this.listen(threadId, pair);
    }
    return left;
  }

  /** Batches no thread could take this turn wait for a task to end, up to the queue's limit. */
  private waitForRingTask(batches: Posting[][]): void {
    for (const batch of batches) {
      if (this.ringWaiting.length < this.queueLimit) this.ringWaiting.push(batch);
      else {
        const full = new PoolSaturated(this.queueLimit);
        for (const posting of batch) this.refuse(posting, full);
      }
    }
  }

  /** One order's batch into a thread's ring, as part of `task`; false if the ring has no room. */
  private writeToRing(pair: RingPair, task: RingTask, postings: Posting[]): boolean {
    // A step in a ring is known by its cell, unique while the step is out: its report comes back under it.
    const steps = postings.map(({ task: step }) => ({ seq: step.cell, cell: step.cell, module: step.module }));
    const batch = batchOf(postings[0]!.task, steps);
    if (!writeBatch(pair.tasks, batch, (module) => this.moduleIndex.get(module) ?? -1)) return false;
    const placement: TaskPlacement = { cpuMs: 0, placedOn: task.threadId };
    for (const posting of postings) {
      posting.placement.batch = placement;
      this.inRings.set(posting.task.cell, { task, posting });
    }
    task.unsettled += postings.length;
    return true;
  }

  /**
   * A step of a ring task has its answer. The task's last one frees its place on the thread, and the batches waiting
   * for one leave at once, before the answer is read: an order that posts again on it finds them gone.
   */
  private ringStepSettled(task: RingTask): void {
    countOn(this.ringStepsOn, task.threadId, -1);
    if (--task.unsettled > 0) return;
    this.ringTasksEnded++;
    countOn(this.ringTasksOn, task.threadId, -1);
    if (this.ringWaiting.length > 0) for (const batch of this.postToRings([])) this.post([batch]);
  }

  /** Read a thread's reports as they come, until it exits. */
  private listen(threadId: number, pair: RingPair): void {
    if (this.listening.has(threadId)) return;
    const reader = new RingReader(pair.reports, (at) => {
      const ledger = readLedgerRequest(pair.reports, at);
      if (ledger) return this.ringLedgerRequest(threadId, ledger);
      const { seq: cell, report } = readReport(pair.reports, at);
      const inRing = this.inRings.get(cell);
      // Only this thread's step of that cell: a cell names one step out at a time, on one thread.
      if (inRing?.task.threadId !== threadId) return;
      this.inRings.delete(cell);
      this.answer(inRing.posting, report);
      this.ringStepSettled(inRing.task);
    });
    this.listening.set(threadId, { pair, reader });
    reader.look();
  }

  /**
   * A request of a step in a thread's ring to the payment provider: the order and run are its task's. One whose step
   * is no longer out (its thread judged lost) is dropped: its cell's note has it applied when the step is settled.
   */
  private ringLedgerRequest(threadId: number, { cell, op, amount, test }: RingLedgerRequest): void {
    const inRing = this.inRings.get(cell);
    if (inRing?.task.threadId !== threadId) return;
    const { run } = inRing.posting.step;
    this.onLedgerRequest({ op, order: run.key, run: run.runNumber, amount, test });
  }

  /** Its last reports read, the steps it still had are lost with it, and its rings are free for another thread. */
  private ringThreadExited(threadId: number): void {
    const listening = this.listening.get(threadId);
    this.listening.delete(threadId);
    if (listening) {
      listening.reader.look();
      listening.reader.stop();
    }
    const pair = listening?.pair ?? this.rings?.ownedBy(threadId);
    const lost = new RingThreadLost(threadId);
    this.inRings.forEach((inRing, cell) => {
      if (inRing.task.threadId !== threadId) return;
      this.inRings.delete(cell);
      this.refuse(inRing.posting, lost);
      this.ringStepSettled(inRing.task);
    });
    if (pair) this.rings!.free(pair);
  }

  /**
   * One task: the batches given, each the steps of one order. Refused if the queue is full: the steps posted in one
   * turn all passed `run`'s look at a queue they were not in yet, so a burst in one turn would overfill it.
   */
  private post(batches: Posting[][]): void {
    const members = batches.flat();
    if (this.piscina.queueSize >= this.queueLimit) {
      const full = new PoolSaturated(this.queueLimit);
      for (const member of members) this.refuse(member, full);
      return;
    }
    const alone = batches.length === 1 && batches[0]!.length === 1;
    const placement: TaskPlacement = alone ? batches[0]![0]!.placement : { cpuMs: 0 };
    const seqs: number[] = [];
    const task: ThreadTask = {
      batches: batches.map((postings) => {
        // An order's steps share its deadline, measured as they were posted (in this same turn).
        const steps = postings.map((posting) => {
          const seq = this.nextSeq++;
          seqs.push(seq);
          if (!alone) {
            posting.placement.batch = placement;
            this.awaitingMail.set(seq, posting);
          }
          return { seq, cell: posting.task.cell, module: posting.task.module };
        });
        return batchOf(postings[0]!.task, steps);
      }),
    };
    const forget = (): void => {
      for (const seq of seqs) this.awaitingMail.delete(seq);
    };
    this.piscina.run(Object.assign(task, { [queueOptionsSymbol]: placement })).then(
      (answered) => {
        forget();
        // A member already answered by mail keeps that answer.
        const reports = answered.flat();
        members.forEach((member, i) => this.answer(member, reports[i]!));
      },
      (error: unknown) => {
        forget();
        for (const member of members) this.refuse(member, error);
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

  /** Tasks ended on the threads, by either path: Piscina's and the rings'. */
  get completed(): number {
    return this.piscina.completed + this.ringTasksEnded;
  }

  /** Tasks waiting for a thread, by either path. */
  get queued(): number {
    return this.piscina.queueSize + this.ringWaiting.length;
  }

  /** Piscina's own utilization estimate and run/wait-time histograms: of its tasks only, not the rings'. */
  get stats(): Pick<Piscina, 'utilization' | 'histogram'> {
    return this.piscina;
  }

  close(): Promise<void> {
    this.registry.markClosing();
    return this.piscina.destroy();
  }
}
