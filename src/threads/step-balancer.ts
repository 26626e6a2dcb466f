/**
 * Which thread takes a step: Piscina's `loadBalancer`, ours. Piscina calls it for each task it hands out, with the
 * threads it has; null leaves the task in Piscina's queue until a task ends or a thread is ready.
 *
 * A thread is offered a step only if it is alive and not doomed, runs fewer than THREAD_MAX_TASKS steps, and keeps up:
 * a thread that has left a step it was given unstarted for STALLED_AFTER_MS is hung (in a step's code, or in a turn
 * that long) and gets none. Among those, the one owing the least CPU (the computing steps placed on it, counted here
 * exactly); then one whose event loop went idle since the balancer last looked, and that is not in a step's code
 * right now (the tracker's on-CPU mark), before one that is busy (a hung thread before it has left a step unstarted,
 * one running someone's own CPU-bound code). A computing step goes to the fewest steps
 * among equals; the other steps are packed — the
 * thread already running the most steps, while it runs fewer than PACKED_STEPS — because the threads share the
 * couriers: a slot freed on a thread whose own step is next in line is handed over there, with no wake-up of another
 * thread.
 *
 * Piscina runs a task with a signal alone on its thread (its own balancer treats a thread running one as full); this
 * one counts a thread's steps itself, so steps with their hard stop still share threads.
 */
import { Piscina, type PiscinaTask } from 'piscina';

/** Steps a thread may run before the next thread is preferred. */
export const PACKED_STEPS = 128;

/**
 * How long a step may wait unstarted on its thread before the thread counts as hung and gets no new work. A thread that
 * keeps up starts a step within its turn; this leaves room for a long turn and for a busy machine's scheduler.
 */
export const STALLED_AFTER_MS = 100;

/**
 * A thread whose event loop was active this share of the time since the balancer last looked is busy all the time (a
 * hung thread's is 1, an idle one's 0); judged only over a span this long at least, else as last judged.
 */
const BUSY_UTILIZATION = 0.95;
const BUSY_JUDGED_OVER_MS = 10;

type EventLoopUtilization = ReturnType<typeof performance.eventLoopUtilization>;

/** A step as the balancer places it. */
export interface PlacedStep {
  /** CPU work (ms) the step does. */
  readonly cpuMs: number;
  /** The thread it was handed to; undefined while it waits for one. */
  placedOn: number | undefined;
  /** When it was handed to its thread (performance.now()). */
  placedAt: number;
  /** Whether its thread has begun it. */
  started(): boolean;
  /** Whether its CPU work is over (done, failed or canceled), before its task has settled. */
  computed(): boolean;
}

/** Piscina's view of one of its threads, as its balancer is given it. */
type PoolWorker = Parameters<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer'] & {}>[1][number];

interface ThreadLoad {
  /** Steps it runs now, as Piscina counts them as it places each. */
  steps: number;
  /** The computing steps placed on it whose CPU work is not over, and what they owe it (ms), as read for a placement. */
  readonly computing: PlacedStep[];
  owedCpuMs: number;
  /** Steps handed to it and perhaps not begun, oldest first (begun ones are dropped as they are met). */
  readonly unstarted: PlacedStep[];
  /** Its event loop was busy all the time since it was last looked at; when that was, and what it read. */
  busy: boolean;
  /** It was executing a step's code as it was last considered: in a turn now, not waiting for work. */
  executing: boolean;
  lookedAt: number;
  looked: EventLoopUtilization | undefined;
}

export interface StepBalancerOptions {
  readonly tasksPerThread: number;
  /** Whether a thread may be given a step: tracked and not doomed. */
  readonly accepts: (threadId: number) => boolean;
  /** A thread's event loop's idle and active time since it started. */
  readonly eventLoopOf: (threadId: number) => EventLoopUtilization | undefined;
  /** Whether a thread is executing a step's code at this moment, not waiting in its event loop. */
  readonly executingStep: (threadId: number) => boolean;
}

export class StepBalancer {
  private readonly loads = new Map<number, ThreadLoad>();

  constructor(private readonly options: StepBalancerOptions) {}

  /** Piscina's `loadBalancer`: the thread for `task`, or null to leave it queued. */
  readonly pick = (task: PiscinaTask, workers: PoolWorker[]): PoolWorker | null => {
    const step = (task as unknown as Record<symbol, PlacedStep | undefined>)[Piscina.queueOptionsSymbol];
    if (step === undefined) return null;
    const now = performance.now();
    let best: PoolWorker | null = null;
    let bestLoad: ThreadLoad | undefined;
    for (const worker of workers) {
      if (worker.terminating || worker.destroyed || !this.options.accepts(worker.id)) continue;
      const load = this.loadOf(worker.id);
      // Piscina's own count, up to date as it hands out the tasks a finished one made room for (a count of ours would
      // drop only later, in the task's promise, and leave them queued). A thread running one task with a signal it
      // counts as full (Infinity): it is one.
      load.steps = worker.currentUsage === Infinity ? 1 : worker.currentUsage;
      if (load.steps >= this.options.tasksPerThread || this.stalled(load, now)) continue;
      owed(load);
      this.lookAt(worker.id, load, now);
      load.executing = this.options.executingStep(worker.id);
      if (bestLoad === undefined || better(load, bestLoad, step.cpuMs)) [best, bestLoad] = [worker, load];
    }
    if (best === null || bestLoad === undefined) return null;
    if (step.cpuMs > 0) bestLoad.computing.push(step);
    bestLoad.unstarted.push(step);
    step.placedOn = best.id;
    step.placedAt = now;
    return best;
  };

  /** The step's task has settled: its thread runs it no more. */
  ended(step: PlacedStep): void {
    if (step.placedOn === undefined) return;
    const load = this.loads.get(step.placedOn);
    if (!load) return;
    for (const list of [load.unstarted, load.computing]) {
      const at = list.indexOf(step);
      if (at >= 0) list.splice(at, 1);
    }
  }

  /** The thread has exited. */
  forget(threadId: number): void {
    this.loads.delete(threadId);
  }

  private loadOf(threadId: number): ThreadLoad {
    let load = this.loads.get(threadId);
    if (!load)
      this.loads.set(
        threadId,
        (load = {
          steps: 0,
          computing: [],
          owedCpuMs: 0,
          unstarted: [],
          busy: false,
          executing: false,
          lookedAt: 0,
          looked: undefined,
        }),
      );
    return load;
  }

  /**
   * Whether the thread's event loop was active all the time since it was last looked at: a thread hung in a step's code
   * before it has left a step unstarted, or one running CPU-bound code of its own. Its time is read from here, with no
   * message to the thread, so a hung one is measured too.
   */
  private lookAt(threadId: number, load: ThreadLoad, now: number): void {
    if (now - load.lookedAt < BUSY_JUDGED_OVER_MS) return;
    const looked = this.options.eventLoopOf(threadId);
    if (looked && load.looked) {
      const active = looked.active - load.looked.active;
      const span = active + looked.idle - load.looked.idle;
      load.busy = span > 0 && active / span >= BUSY_UTILIZATION;
    }
    load.looked = looked;
    load.lookedAt = now;
  }

  /** Whether the thread has left a step it was given unstarted for STALLED_AFTER_MS. */
  private stalled(load: ThreadLoad, now: number): boolean {
    const { unstarted } = load;
    while (unstarted.length > 0 && unstarted[0]!.started()) unstarted.shift();
    return unstarted.length > 0 && now - unstarted[0]!.placedAt >= STALLED_AFTER_MS;
  }
}

/**
 * What the thread owes the computing steps placed on it whose CPU work is not over: a step's work ends a little before
 * its task settles (its answer still to come), and the thread is free for another's from then.
 */
function owed(load: ThreadLoad): void {
  let ms = 0;
  for (const step of load.computing) if (!step.computed()) ms += step.cpuMs;
  load.owedCpuMs = ms;
}

/** Whether `a` is a better thread than `b` for a step computing `cpuMs`. */
function better(a: ThreadLoad, b: ThreadLoad, cpuMs: number): boolean {
  if (a.owedCpuMs !== b.owedCpuMs) return a.owedCpuMs < b.owedCpuMs;
  // Busy by its loop since last looked at, or in a step's code right now. The loop's share alone spans the time since
  // the last look, the idle part before a hang included: beside busy cores, a thread hung for tens of ms still read
  // below BUSY_UTILIZATION, and took new orders' steps, unstarted until the hung step's deadline ended it (504).
  const [aBusy, bBusy] = [a.busy || a.executing, b.busy || b.executing];
  if (aBusy !== bBusy) return !aBusy;
  if (cpuMs > 0) return a.steps < b.steps;
  return packingRank(a) < packingRank(b);
}

/** With room to pack, the fullest first; without, the emptiest. */
const packingRank = ({ steps }: ThreadLoad): number => (steps < PACKED_STEPS ? -steps : steps);
