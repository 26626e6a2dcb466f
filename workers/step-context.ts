/**
 * The context one step task runs with: its waits honor the task's cancel cell, and the thread's on-CPU marker follows
 * the step in and out of them. Each wait is also published in the cell (its ACTIVITY word, and the courier slot held):
 * only this thread knows, and the thread view shows it, and the main thread judges by it a step that outlives its
 * cancellation. Every wait's end beats the thread's progress count: a thread busy waking its steps is not stuck.
 */
import type { Logger } from 'pino';
import type { StepName } from '../src/domain/order.js';
import type { CancelCells, StepActivity } from '../src/shared-memory/cancel-cells.js';
import type { SlotSemaphore } from '../src/shared-memory/slot-semaphore.js';
import type { TrackerShard } from '../src/shared-memory/step-tracker.js';
import {
  REQUESTED_CHARGE,
  REQUESTED_EFFECT,
  REQUESTED_TEST,
  REQUESTED_VOID,
  type DependencyReport,
  type LedgerRequest,
  type ServiceRequest,
  type StepTimings,
} from '../src/threads/protocol.js';
import { DependencyCalls, type DependencyLine, type RetryNotes } from './dependency-call.js';
import {
  StepCanceled,
  StepEnded,
  type ActedOnService,
  type CourierSlot,
  type DependencyCall,
  type PaymentProvider,
  type RunKey,
  type StepContext,
  type StepLog,
} from './step-api.js';
import { TaskLog } from './step-log.js';
import type { TaskScope } from './last-words.js';
import type { OnCpuMarker } from './on-cpu-marker.js';
import { orderKey } from '../src/domain/order.js';

/** Longest stretch of CPU work between two looks at the cancel cell. */
const CANCEL_CHECK_MS = 0.5;
/**
 * Longest stretch of CPU work before letting the other steps on this thread run. Go's scheduler preempts a goroutine
 * after 10 ms; a thread cannot be preempted, so CPU work yields by itself at the same pace.
 */
const TIME_SLICE_MS = 10;

/** Keeps the CPU loop's result alive so the JIT cannot drop the work. */
let sink = 1;

function spinUntil(deadline: number): void {
  let x = sink | 1;
  do {
    for (let i = 0; i < 256; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
    }
  } while (performance.now() < deadline);
  sink = x;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Where a step's requests to its remote services leave by: its thread's messages. */
export type RequestSender = (request: ServiceRequest) => void;

export interface TaskResources {
  readonly cells: CancelCells;
  readonly couriers: SlotSemaphore;
  readonly shard: TrackerShard;
  /** Which step's code the thread is executing, in its shard. */
  readonly onCpu: OnCpuMarker;
  readonly threadId: number;
  /** The thread's logger (step-log.ts); each task logs through a child bound to its request, order and step. */
  readonly log: Logger;
  /** Posts a request to a remote service's gateway on the main thread. */
  readonly sendRequest: RequestSender;
  /** The dependencies' outages and the steps' retries. */
  readonly dependencies: DependencyLine;
}

/** Who the task is: its log lines are bound to this, and its requests to the payment provider carry it. */
export interface TaskLabels {
  readonly requestId: string;
  /** The order's trace id, if it has one: its log lines carry it. */
  readonly traceId?: string;
  /** The order's client: with its id, the key the provider files its books under. */
  readonly client: string;
  /** The client's index in shared memory: its waits for a courier take turns with other clients'. */
  readonly clientIndex: number;
  /** Its order's tier's rank (0: critical): a better one goes first in the wait for a courier. */
  readonly tierRank: number;
  readonly orderId: string;
  /** The order's run: with the order id, the provider's idempotency key. */
  readonly run: number;
  /** The claim's fence of the run, and who holds it (StepTask's). */
  readonly fence: number;
  readonly caller: string | undefined;
  readonly step: string;
}

const NO_DEPENDENCY: DependencyReport = { dependency: undefined, retries: undefined };

export class WorkerStepContext implements StepContext, RetryNotes, TaskScope {
  readonly threadId: number;
  /**
   * Courier slots this task holds; whatever is left at the end is given back for it. Made with the first. A list, not a
   * Set: a step holds one slot or a few, and a Set is a hash table made for every courier step.
   */
  private heldSlots: number[] | undefined;
  /** Its waits for a courier under way: only a step that ends during one has a waiter to withdraw. */
  private courierWaits = 0;
  private controller: AbortController | undefined;
  private finished = false;
  private taskLog: TaskLog | undefined;
  /** When the task started on this thread: its log lines say how long it has run. */
  private readonly startedAt = performance.now();
  /** When its order's deadline passes, on this thread's clock. */
  private readonly deadline: number;
  private dependencyCalls: DependencyCalls | undefined;
  /** When its wait for a courier began and how long it lasted, on this thread's clock, for its trace. */
  private courierWait: readonly [from: number, lasted: number] | undefined;

  /** `remainingMs`: the order's time left when the task was posted (undefined: no deadline). */
  constructor(
    readonly cell: number,
    private readonly resources: TaskResources,
    private readonly labels: TaskLabels,
    remainingMs: number | undefined,
  ) {
    this.threadId = resources.threadId;
    this.deadline = remainingMs === undefined ? Infinity : this.startedAt + remainingMs;
  }

  /** Its last words' scope (last-words.ts): the step's code is its task's until the task has ended. */
  get ended(): boolean {
    return this.finished;
  }

  /** Made on first use, and its child logger at its first line written: most steps log nothing at the default level. */
  get log(): StepLog {
    this.taskLog ??= new TaskLog(this.resources.log, () => this.logBindings(), this.startedAt);
    return this.taskLog;
  }

  private logBindings(): Record<string, string> {
    return {
      request_id: this.labels.requestId,
      ...(this.labels.traceId === undefined ? {} : { trace_id: this.labels.traceId }),
      order_id: this.labels.orderId,
      step: this.labels.step,
    };
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      const controller = new AbortController();
      this.controller = controller;
      if (this.finished) controller.abort(new StepEnded());
      else
        void this.resources.cells.whenCanceled(this.cell).then(() => {
          // A cell of a task that has ended is another task's, or none's: its cancellation is not this step's.
          if (!this.finished) controller.abort(new StepCanceled());
        });
    }
    return this.controller.signal;
  }

  /**
   * After the task has ended, its cell may belong to another task: a context that outlived its task only ever reads
   * canceled.
   */
  isCanceled(): boolean {
    return this.finished || this.resources.cells.isCanceled(this.cell);
  }

  /** The step's code is about to run on this thread (task start, or back from a wait). */
  enter(): void {
    // A continuation that outlived its task is not that task on the CPU.
    if (!this.finished) this.resources.onCpu.mark(this.cell);
  }

  /**
   * A wait on the task's cell: ended by its time or by the order's cancellation, whichever comes first. Not an async
   * function: a step asleep holds the wait's promise and one reaction, no frame of this.
   */
  sleep(ms: number): Promise<void> {
    if (this.finished) return Promise.reject(new StepEnded());
    this.show('sleeping');
    this.resources.onCpu.unmark(this.cell);
    return this.resources.cells.waitCanceled(this.cell, Math.max(0, ms)).then(this.wokeFromSleep);
  }

  private readonly wokeFromSleep = (canceled: boolean): void => {
    this.wokeUp();
    if (this.finished) throw new StepEnded();
    if (canceled) throw new StepCanceled();
  };

  /** Back from a wait: shown running, on the CPU, and the thread's progress beaten. */
  private wokeUp(): void {
    this.show('running');
    this.enter();
    this.resources.shard.beat();
  }

  async compute(ms: number): Promise<void> {
    this.refuseIfEnded();
    if (ms > 0) this.show('computing');
    try {
      await this.computeFor(ms);
    } finally {
      if (ms > 0) {
        this.show('running');
        // Its turn of thread time is over now, not when its report is read: on a starved machine the hops to the main
        // thread and back held a short step's turn for hundreds of milliseconds, and its client's next step waited.
        if (!this.finished) this.resources.cells.markComputed(this.cell);
      }
    }
  }

  private async computeFor(ms: number): Promise<void> {
    let computed = 0;
    while (computed < ms) {
      const sliceStart = performance.now();
      const sliceEnd = sliceStart + Math.min(TIME_SLICE_MS, ms - computed);
      for (let now = sliceStart; now < sliceEnd; now = performance.now()) {
        if (this.isCanceled()) throw new StepCanceled();
        spinUntil(Math.min(now + CANCEL_CHECK_MS, sliceEnd));
      }
      computed += performance.now() - sliceStart;
      // Computing is progress: a thread busy with steps' CPU work is not stuck.
      this.resources.shard.beat();
      if (computed < ms) await this.suspend(nextTurn());
    }
    if (this.isCanceled()) throw new StepCanceled();
  }

  async acquireCourier(): Promise<CourierSlot> {
    this.refuseIfEnded();
    const { couriers, threadId, cells } = this.resources;
    const { granted, since } = this.joinCourierLine();
    let slot: number;
    try {
      slot = await granted;
    } finally {
      this.leftCourierLine(since);
    }
    if (slot < 0) throw new StepCanceled();
    if (this.finished) {
      // Granted as the task ended: nobody will give it back but us.
      couriers.release(slot, threadId);
      throw new StepEnded();
    }
    this.hold(slot);
    const release = (): void => {
      const at = this.heldSlots?.indexOf(slot) ?? -1;
      if (at < 0) return;
      this.heldSlots!.splice(at, 1);
      if (!this.finished && cells.courierSlotOf(this.cell) === slot) cells.setCourierSlot(this.cell, undefined);
      couriers.release(slot, threadId);
    };
    return { release, [Symbol.dispose]: release };
  }

  /** Into the couriers' line, shown waiting and off the CPU: the grant (a slot, or -1 if canceled first), and when. */
  private joinCourierLine(): { readonly granted: Promise<number>; readonly since: number } {
    const { couriers, threadId, onCpu } = this.resources;
    this.show('awaiting_courier');
    onCpu.unmark(this.cell);
    const since = performance.now();
    // No whenCanceled: the main thread wakes every dispatcher after each cancellation (SlotSemaphore.wakeWaiters).
    const cancel = { token: this.cell, isCanceled: () => this.isCanceled() };
    this.courierWaits++;
    return { granted: couriers.acquire(threadId, cancel, this.labels.clientIndex, this.labels.tierRank), since };
  }

  /** Out of the couriers' line, however the wait ended: the wait timed, shown running, back on the CPU. */
  private leftCourierLine(since: number): void {
    this.courierWaits--;
    this.courierWait = [since, performance.now() - since];
    this.wokeUp();
  }

  private hold(slot: number): void {
    if (this.heldSlots) this.heldSlots.push(slot);
    else this.heldSlots = [slot];
    this.resources.cells.setCourierSlot(this.cell, slot);
  }

  remainingMs(): number {
    return this.deadline - performance.now();
  }

  callDependency(
    step: StepName,
    attempt: (call: DependencyCall) => Promise<void>,
    options: { readonly retry: boolean; readonly expectedMs: number },
  ): Promise<void> {
    this.refuseIfEnded();
    // Per-step objects are what a step asleep keeps on its thread: the line is the thread's, the notes this context.
    this.dependencyCalls ??= new DependencyCalls(this, this.resources.dependencies, this);
    return this.dependencyCalls.call(step, attempt, options);
  }

  /** What the step's report says of its dependency: nothing if it called none. */
  dependencyReport(): DependencyReport {
    return this.dependencyCalls?.report() ?? NO_DEPENDENCY;
  }

  /** How long the step has run on this thread, and when it waited for a courier: for its order's trace. */
  timings(): StepTimings {
    const now = performance.now();
    const wait = this.courierWait;
    return { ranMs: now - this.startedAt, courierWaitMs: wait ? [wait[0] - this.startedAt, wait[1]] : undefined };
  }

  /** Not kept: a step asks once, as it starts, and a step asleep should hold nothing it is done with. */
  get paymentProvider(): PaymentProvider {
    return {
      requestCharge: (amount, options = {}) =>
        this.sendToProvider('charge', REQUESTED_CHARGE, amount, options.decline ?? false),
      requestVoid: (options = {}) => this.sendToProvider('void', REQUESTED_VOID, 0, options.refuse ?? false),
    };
  }

  get runKey(): RunKey {
    return { client: this.labels.client, orderId: this.labels.orderId, run: this.labels.run };
  }

  get fence(): number {
    return this.labels.fence;
  }

  /** Not kept, as the payment provider is not. */
  get service(): ActedOnService {
    return { requestEffect: () => this.requestEffect() };
  }

  /** Recorded in the cell before it leaves, as a request to the provider is, and settled the same way. */
  private requestEffect(): void {
    this.refuseIfEnded();
    const { client, orderId, run, step, fence, caller } = this.labels;
    this.resources.cells.noteRequest(this.cell, REQUESTED_EFFECT);
    this.resources.sendRequest({ effect: true, order: orderKey(client, orderId), run, step, fence, caller });
  }

  /**
   * The request is recorded in the task's cell before it leaves: if the thread dies before the message is sent or read,
   * the main thread still learns of it from the cell, and settles it with the provider.
   */
  private sendToProvider(op: LedgerRequest['op'], requested: number, amount: number, test: boolean): void {
    this.refuseIfEnded();
    this.resources.cells.noteRequest(this.cell, requested | (test ? REQUESTED_TEST : 0));
    this.resources.sendRequest({
      ledger: true,
      op,
      order: orderKey(this.labels.client, this.labels.orderId),
      run: this.labels.run,
      amount,
      test,
    });
  }

  /**
   * The task is over: give back what the step left held, withdraw its waits for a courier, stop watching the cell. From
   * now on the context refuses everything — its cell will soon belong to another task.
   */
  finish(): void {
    this.finished = true;
    this.controller?.abort(new StepEnded());
    // Only a step ending while it waits has waiters to drop: `abandon` walks every waiter of the thread, and in `wide`
    // (10,000 orders at once) walking them at every step's end came to 62 million entries on one thread.
    if (this.courierWaits > 0) this.resources.couriers.abandon(this.cell);
    if (this.heldSlots) {
      for (const slot of this.heldSlots) this.resources.couriers.release(slot, this.threadId);
      this.heldSlots.length = 0;
    }
    this.resources.onCpu.unmark(this.cell);
  }

  /** Its DependencyCalls' (RetryNotes): the step called its dependency again. */
  dependencyRetried(): void {
    if (!this.finished) this.resources.cells.noteRetry(this.cell);
  }

  /** Publish what the step is doing; never once the task has ended, when its cell may be another task's. */
  private show(activity: StepActivity): void {
    if (!this.finished) this.resources.cells.setActivity(this.cell, activity);
  }

  private refuseIfEnded(): void {
    if (this.finished) throw new StepEnded();
  }

  private async suspend<T>(waiting: Promise<T>): Promise<T> {
    this.resources.onCpu.unmark(this.cell);
    try {
      return await waiting;
    } finally {
      this.enter();
    }
  }
}
