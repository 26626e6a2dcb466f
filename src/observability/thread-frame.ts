/**
 * A frame of the thread view, as GET /threads/events sends it and the page
 * (web/threads/) reads it: the wire format, in types alone. It imports
 * nothing, so that the browser's code can be checked against it; the server
 * side (thread-view.ts) builds frames of these types from its own, and the
 * compiler says so if the two drift apart.
 */

/**
 * Where a step is: `queued` — waiting for a thread; `posted` — given to a
 * thread that has not started it yet; `finishing` — ended, its report on its
 * way; otherwise what its thread says it is doing.
 */
export type StepPhase = 'running' | 'sleeping' | 'computing' | 'awaiting_courier' | 'queued' | 'posted' | 'finishing';

export interface ViewedStep {
  readonly order_id: string;
  readonly step: string;
  readonly activity: StepPhase;
  /** Its order was canceled; the step has not ended yet. */
  readonly canceled?: true;
  /** 2: running again after its thread was lost under it. */
  readonly attempt?: number;
  /** Its code is what the thread is executing at this instant. */
  readonly on_cpu?: true;
  /** The courier slot it holds. */
  readonly courier?: number;
  /** Times it has called its dependency again after an unavailable answer (a partial outage). */
  readonly retries?: number;
  readonly age_ms: number;
}

/** A remote service the steps call: its simulated outage and its circuit breaker. */
export interface ViewedDependency {
  readonly name: string;
  /** For people: "the vendor". */
  readonly title: string;
  /** Switched on by the admin (POST /admin/dependencies/{name}); null when none. */
  readonly outage: { readonly failure_ratio: number; readonly latency_ms: number } | null;
  /** null when breakers are off (BREAKER_FAILURES=0). */
  readonly breaker: {
    readonly state: 'closed' | 'open' | 'half_open';
    readonly consecutive_failures: number;
    /** While open: until it lets a probe order through. */
    readonly open_for_ms: number;
  } | null;
}

export type LostStepOutcome = 'culprit' | 'retried' | 'lost';

/**
 * A client sharing the service (the bulkheads): what it holds of each scarce
 * resource right now, and what it was refused since start. Clients beyond
 * the courier semaphore's table of indices share one row, "(others)".
 */
export interface ViewedClient {
  readonly client: string;
  /** Its weight in every fair share (CLIENT_WEIGHTS). */
  readonly weight: number;
  /** Its priority tier (CLIENT_TIERS, or its key's); the overflow's row: standard. */
  readonly tier: 'critical' | 'standard' | 'free';
  readonly orders_in_flight: number;
  readonly couriers_held: number;
  readonly couriers_waiting: number;
  /** Steps with cpu_ms computing on threads, and waiting on the main thread for their client's turn. */
  readonly cpu_steps_running: number;
  readonly cpu_steps_waiting: number;
  /**
   * What its order records take of ORDER_RECORDS_MAX_MB, estimated; null where records are not kept in this process's
   * memory (Postgres).
   */
  readonly record_bytes: number | null;
  /** Its orders shed because its share of the orders in flight, or of the records, was full. */
  readonly shed_orders_in_flight: number;
  readonly shed_records: number;
  /** Its orders refused 429 for going over its rate limit. */
  readonly rate_limited: number;
}

/** The clients sharing the service, as the frame shows them. */
export interface ViewedClients {
  /** Whether the per-client caps apply: more than one client exists, and CLIENT_MAX_SHARE is below 1. */
  readonly capped: boolean;
  /** CLIENT_MAX_SHARE. */
  readonly max_share: number;
  /** The busiest first (orders in flight, then what they hold and wait for), at most a few dozen. */
  readonly listed: readonly ViewedClient[];
  /** Clients not listed. */
  readonly more: number;
}

export interface ViewedLane {
  readonly thread_id: number;
  /** alive; doomed: terminated or dying, its steps will not report; dead: exited. */
  readonly state: 'alive' | 'doomed' | 'dead';
  /** Event-loop utilization 0..1 over the last half second or more; null for a dead thread. */
  readonly utilization: number | null;
  /** The tracker's count for this thread. */
  readonly steps_running: number;
  /** How long the thread's progress count has stood still while it has steps (0: it is moving). */
  readonly stalled_ms: number;
  /** Steps on the lane by what they are doing (canceled ones counted apart too). */
  readonly counts: Readonly<Record<StepPhase | 'canceled', number>>;
  readonly steps: readonly ViewedStep[];
  /** Steps on the lane not listed. */
  readonly more: number;
  /** For a doomed or dead thread: how it ended, and for a dead one what became of the steps on it. */
  readonly fate?: {
    // 'closed': the pool closed it (at shutdown).
    readonly cause: 'terminated' | 'died' | 'closed';
    readonly reason?: string;
    readonly at?: number;
    /** The first steps lost with it, at most a few dozen; `lost_more` counts the rest. */
    readonly lost?: ReadonlyArray<{
      readonly order_id: string;
      readonly step: string;
      readonly outcome: LostStepOutcome;
    }>;
    readonly lost_more?: number;
  };
}

export interface ViewEvent {
  /** Epoch milliseconds. */
  readonly at: number;
  readonly kind: 'died' | 'terminated' | LostStepOutcome;
  readonly thread_id: number;
  readonly order_id?: string;
  readonly step?: string;
  readonly detail?: string;
}

export interface ThreadSnapshot {
  /** Epoch milliseconds. */
  readonly at: number;
  readonly totals: {
    /** The tracker: steps running inside threads. */
    readonly running_steps: number;
    readonly queued: number;
    readonly steps_in_flight: number;
    readonly orders_in_flight: number;
    readonly couriers_busy: number;
    readonly couriers: number;
    readonly courier_waiters: number;
    readonly threads: number;
    readonly threads_replaced: number;
  };
  readonly lanes: readonly ViewedLane[];
  readonly queue: { readonly steps: readonly ViewedStep[]; readonly more: number };
  /** One per slot: who holds it (null when free); `client`, the client of the step holding it. */
  readonly couriers: ReadonlyArray<{
    readonly thread_id: number;
    readonly client?: string;
    readonly order_id?: string;
    readonly step?: string;
  } | null>;
  /** Newest first. */
  readonly events: readonly ViewEvent[];
  /** Every dependency, in the order of the steps. */
  readonly dependencies: readonly ViewedDependency[];
  /** The clients sharing the service: what each holds and waits for. */
  readonly clients: ViewedClients;
}
