/**
 * The thread view's model: which thread runs which step of which order right
 * now, and what each step is doing — read from the shared memory the service
 * already keeps, only when someone looks.
 *
 * Where each fact comes from, and who can know it:
 * - the tasks in flight (main thread): a task's order, step, attempt, and the
 *   thread it was posted to;
 * - its cancel cell (written by its thread): started or not, canceled,
 *   sleeping / computing / waiting for a courier, the courier slot it holds;
 * - the tracker's shards: steps running per thread, the step on its CPU, and
 *   a progress count — a thread whose count stands still while it has steps
 *   is not responding, and then what its steps are doing is not known: the
 *   snapshot says how long it has stood still rather than pretend;
 * - the courier semaphore: the thread holding each slot;
 * - the thread registry: live threads, doomed ones (being terminated, or
 *   dying) whose steps will not report, and exits, kept a while as dead
 *   lanes with what became of the steps that were on them;
 * - the dependencies (main thread and shared memory): each one's simulated
 *   outage and circuit breaker; a step's retries are in its cell.
 *
 * A snapshot costs one pass over the tasks in flight; a lane lists at most
 * MAX_STEPS_PER_LANE of its steps (the oldest) and counts the rest.
 */
import type { CancelCells } from '../shared-memory/cancel-cells.js';
import type { SlotSemaphore } from '../shared-memory/slot-semaphore.js';
import type { ShardReading, StepTracker } from '../shared-memory/step-tracker.js';
import type { TasksInFlight } from '../threads/tasks-in-flight.js';
import type { ExitCause, LiveThread } from '../threads/thread-registry.js';
import type {
  LostStepOutcome,
  StepPhase,
  ThreadSnapshot,
  ViewedClients,
  ViewedDependency,
  ViewedLane,
  ViewedStep,
  ViewEvent,
} from './thread-frame.js';

export type { ThreadSnapshot, ViewedLane, ViewedStep } from './thread-frame.js';

/** Steps listed per lane and in the queue; the others are only counted. */
const MAX_STEPS_PER_LANE = 60;
/**
 * Steps listed on a dead thread's lane; the others are only counted. A
 * thread can take tens of thousands with it: listing them all made frames of
 * megabytes and pages of tens of thousands of nodes.
 */
const MAX_LOST_LISTED = 50;
/** Thread deaths, terminations and lost steps remembered for the running list. */
const MAX_EVENTS = 50;
/** How long a dead thread's lane stays on view, and how many at most. */
const DEAD_LANE_MS = 30_000;
const MAX_DEAD_LANES = 4;

/** /healthz and /metrics: per live thread, steps running and event-loop utilization. */
export interface ThreadLoad {
  readonly thread_id: number;
  readonly steps: number;
  readonly utilization: number;
}

export interface ThreadViewSources {
  readonly cells: CancelCells;
  readonly tracker: StepTracker;
  readonly couriers: SlotSemaphore;
  readonly tasks: TasksInFlight;
  readonly threads: () => readonly LiveThread[];
  readonly ordersInFlight: () => number;
  readonly threadsReplaced: () => number;
  /** The dependencies' outages and breakers, as the frame shows them. */
  readonly dependencies: () => readonly ViewedDependency[];
  /** The clients sharing the service (the bulkheads). */
  readonly clients: () => ViewedClients;
  /**
   * The name of the client with a shared-memory index (src/clients/client-book.ts), as a courier slot records its
   * holder's.
   */
  readonly clientNamed: (index: number) => string | undefined;
}

interface DeadLane {
  readonly threadId: number;
  readonly cause: ExitCause;
  readonly reason: string | undefined;
  readonly at: number;
  readonly diedAt: number;
  /** The first MAX_LOST_LISTED steps lost with it; `lostMore` counts the rest. */
  readonly lost: Array<{ order_id: string; step: string; outcome: LostStepOutcome }>;
  lostMore: number;
}

/**
 * Every key from the start: an object whose shape never changes stays fast to count into, tens of thousands of times a
 * frame.
 */
const noSteps = (): Record<StepPhase | 'canceled', number> => ({
  queued: 0,
  posted: 0,
  running: 0,
  sleeping: 0,
  computing: 0,
  awaiting_courier: 0,
  finishing: 0,
  canceled: 0,
});

class LaneBuilder {
  readonly steps: ViewedStep[] = [];
  readonly counts = noSteps();
  total = 0;

  /** Count a step; true if it is also to be listed (the lane lists its oldest ones). */
  count(activity: StepPhase, canceled: boolean): boolean {
    this.total++;
    this.counts[activity]++;
    if (canceled) this.counts.canceled++;
    return this.steps.length < MAX_STEPS_PER_LANE;
  }
}

export class ThreadView {
  /** Per thread: the progress count last seen, and since when it has not moved. */
  private readonly progressSeen = new Map<number, { progress: number; since: number }>();
  private readonly events: ViewEvent[] = [];
  private readonly dead: DeadLane[] = [];

  constructor(private readonly sources: ThreadViewSources) {}

  /** Per live thread, by threadId: steps running and event-loop utilization. */
  perThread(): ThreadLoad[] {
    const running = new Map(this.sources.tracker.shardsInUse().map((shard) => [shard.threadId, shard.running]));
    return this.liveThreads().map(({ threadId, utilization }) => ({
      thread_id: threadId,
      steps: running.get(threadId) ?? 0,
      utilization,
    }));
  }

  snapshot(): ThreadSnapshot {
    const { cells, tracker, couriers, tasks } = this.sources;
    const now = performance.now();
    const shards = new Map<number, ShardReading>(tracker.shardsInUse().map((shard) => [shard.threadId, shard]));
    const live = this.liveThreads();
    const lanes = new Map(live.map((thread) => [thread.threadId, new LaneBuilder()]));
    const queue = new LaneBuilder();
    const owners = couriers.owners();
    const slotClients = couriers.slotClients();
    const holders: Array<{ order_id: string; step: string } | undefined> = [];

    // Every task is counted; only the ones a lane lists become objects: with
    // thousands in flight, building one per task was most of a frame's cost.
    tasks.forEach((task, cell) => {
      const threadId = task.placement.placedOn;
      const lane = threadId === undefined ? queue : lanes.get(threadId);
      // Posted to a thread that has exited: lost with it, about to run again or to end (the events say which).
      if (!lane) return;
      const phase = cells.phaseOf(cell);
      const activity: StepPhase =
        phase === 'queued'
          ? threadId === undefined
            ? 'queued'
            : 'posted'
          : phase === 'finished'
            ? 'finishing'
            : cells.activityOf(cell);
      const canceled = cells.isCanceled(cell);
      const slot = cells.courierSlotOf(cell);
      const courier = slot !== undefined && threadId !== undefined && owners[slot] === threadId ? slot : undefined;
      if (courier !== undefined) holders[courier] = { order_id: task.orderId, step: task.step };
      if (!lane.count(activity, canceled)) return;
      const step: { -readonly [K in keyof ViewedStep]: ViewedStep[K] } = {
        order_id: task.orderId,
        step: task.step,
        activity,
        age_ms: Math.round(now - task.since),
      };
      if (canceled) step.canceled = true;
      if (task.attempt > 1) step.attempt = task.attempt;
      if (threadId !== undefined && shards.get(threadId)?.onCpuCell === cell) step.on_cpu = true;
      if (courier !== undefined) step.courier = courier;
      const retries = cells.retriesOf(cell);
      if (retries > 0) step.retries = retries;
      lane.steps.push(step);
    });

    const viewed: ViewedLane[] = live.map(({ threadId, utilization, doomed }) => {
      const lane = lanes.get(threadId)!;
      const shard = shards.get(threadId);
      return {
        thread_id: threadId,
        state: doomed ? 'doomed' : 'alive',
        utilization: round(utilization),
        steps_running: shard?.running ?? 0,
        stalled_ms: this.stalledFor(threadId, shard, now),
        counts: lane.counts,
        steps: lane.steps,
        more: lane.total - lane.steps.length,
        ...(doomed ? { fate: { cause: doomed.cause, ...(doomed.reason ? { reason: doomed.reason } : {}) } } : {}),
      };
    });
    viewed.push(...this.deadLanes(now));

    let runningSteps = 0;
    for (const shard of shards.values()) runningSteps += shard.running;
    return {
      at: Date.now(),
      totals: {
        running_steps: runningSteps,
        queued: queue.counts.queued + [...lanes.values()].reduce((sum, lane) => sum + lane.counts.posted, 0),
        steps_in_flight: tasks.size,
        orders_in_flight: this.sources.ordersInFlight(),
        couriers_busy: owners.filter((owner) => owner !== 0).length,
        couriers: owners.length,
        courier_waiters: couriers.waiting(),
        threads: live.filter((thread) => !thread.doomed).length,
        threads_replaced: this.sources.threadsReplaced(),
      },
      lanes: viewed,
      queue: { steps: queue.steps, more: queue.total - queue.steps.length },
      couriers: owners.map((owner, slot) => {
        if (owner === 0) return null;
        const client = slotClients[slot]! >= 0 ? this.sources.clientNamed(slotClients[slot]!) : undefined;
        return { thread_id: owner, ...(client !== undefined ? { client } : {}), ...holders[slot] };
      }),
      events: [...this.events].reverse(),
      dependencies: this.sources.dependencies(),
      clients: this.sources.clients(),
    };
  }

  /** The lanes of threads that exited lately, as they were when they died. */
  private deadLanes(now: number): ViewedLane[] {
    this.forgetOldDeadLanes(now);
    return this.dead.map((dead) => ({
      thread_id: dead.threadId,
      state: 'dead',
      utilization: null,
      steps_running: 0,
      stalled_ms: 0,
      counts: noSteps(),
      steps: [],
      more: 0,
      fate: {
        cause: dead.cause,
        ...(dead.reason ? { reason: dead.reason } : {}),
        at: dead.at,
        lost: dead.lost,
        ...(dead.lostMore > 0 ? { lost_more: dead.lostMore } : {}),
      },
    }));
  }

  /** A thread exited while the pool served (not at shutdown): its lane turns dead. */
  threadExited(exit: {
    readonly threadId: number;
    readonly cause: ExitCause;
    readonly reason: string | undefined;
    readonly error: Error | undefined;
  }): void {
    const reason = exit.reason ?? exit.error?.message;
    this.progressSeen.delete(exit.threadId);
    this.dead.push({
      threadId: exit.threadId,
      cause: exit.cause,
      reason,
      at: Date.now(),
      diedAt: performance.now(),
      lost: [],
      lostMore: 0,
    });
    if (this.dead.length > MAX_DEAD_LANES) this.dead.shift();
    this.note({
      at: Date.now(),
      kind: exit.cause === 'terminated' ? 'terminated' : 'died',
      thread_id: exit.threadId,
      ...(reason ? { detail: reason } : {}),
    });
  }

  /**
   * A step lost its thread: it brought it down, runs again elsewhere, or ends (its order was canceled, or it was lost
   * twice).
   */
  stepLostThread(event: {
    readonly orderId: string;
    readonly step: string;
    readonly threadId: number;
    readonly blamed: boolean;
    readonly retry: boolean;
  }): void {
    const outcome: LostStepOutcome = event.blamed ? 'culprit' : event.retry ? 'retried' : 'lost';
    const lane = this.dead.find((dead) => dead.threadId === event.threadId);
    // The step that brought the thread down is listed whatever the count: there is one, and it is the one to see.
    if (lane && (lane.lost.length < MAX_LOST_LISTED || outcome === 'culprit'))
      lane.lost.push({ order_id: event.orderId, step: event.step, outcome });
    else if (lane) lane.lostMore++;
    this.note({ at: Date.now(), kind: outcome, thread_id: event.threadId, order_id: event.orderId, step: event.step });
  }

  private liveThreads(): LiveThread[] {
    return [...this.sources.threads()].sort((a, b) => a.threadId - b.threadId);
  }

  private stalledFor(threadId: number, shard: ShardReading | undefined, now: number): number {
    const progress = shard?.progress ?? 0;
    const seen = this.progressSeen.get(threadId);
    // Idle, moving, or seen for the first time: not stalled.
    if (!seen || seen.progress !== progress || !shard || shard.running === 0) {
      this.progressSeen.set(threadId, { progress, since: now });
      return 0;
    }
    return Math.round(now - seen.since);
  }

  private forgetOldDeadLanes(now: number): void {
    while (this.dead.length > 0 && now - this.dead[0]!.diedAt > DEAD_LANE_MS) this.dead.shift();
  }

  private note(event: ViewEvent): void {
    this.events.push(event);
    if (this.events.length > MAX_EVENTS) this.events.shift();
  }
}

const round = (value: number): number => Math.round(value * 1000) / 1000;
