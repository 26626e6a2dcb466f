/**
 * What crosses the boundary between the main thread and a worker thread. Everything here is plain data: a class
 * instance posted to another thread arrives as a plain object (an Error loses its class and fields), so failures travel
 * as a kind and are given meaning again on the main thread.
 */
import type { CancelSignal } from '../domain/cancel-signal.js';
import type { DependencyVerdict } from '../domain/dependencies.js';
import { abortKind, type OrderFailureKind, type StepFailureKind } from '../domain/errors.js';
import type { Order, OrderKey, StepName } from '../domain/order.js';

/** Shared memory every worker maps at start-up (Piscina's workerData). */
export interface SharedMemoryBuffers {
  readonly cancelCells: SharedArrayBuffer;
  readonly stepTracker: SharedArrayBuffer;
  readonly courierSlots: SharedArrayBuffer;
  /**
   * The dependencies' simulated outages (src/shared-memory/dependency-outages.ts); absent (the benchmarks): none can be
   * switched on.
   */
  readonly dependencyOutages?: SharedArrayBuffer;
}

/** Everything a worker thread is given at start-up (Piscina's workerData). */
export interface WorkerSetup extends SharedMemoryBuffers {
  /** Level of the log lines steps write from the thread, as the process started. */
  readonly logLevel: string;
  /**
   * The level in force (src/shared-memory/log-level.ts), changed at run time by the admin; absent (the benchmarks):
   * `logLevel` for good.
   */
  readonly logLevelWord?: SharedArrayBuffer;
  /**
   * URLs of every step and compensation module. A thread loads them before it takes its first task: an import needs
   * several turns of the thread's event loop, and a thread busy with CPU work takes long over each turn — long enough,
   * measured, for a first refund's deadline to pass while it loads.
   */
  readonly stepModules: readonly string[];
  /**
   * Per step, how many times it calls its dependency again after an unavailable answer (STEP_RETRIES); absent: never.
   */
  readonly stepRetries?: Readonly<Partial<Record<StepName, number>>>;
  /** Whether steps' reports say when things happened on the thread (StepTimings), for traces; absent: they do not. */
  readonly stepTimings?: boolean;
}

/** One step of one order, as posted to a worker. */
export interface StepTask {
  /** The task's cancel cell: canceled when the order is. */
  readonly cell: number;
  /** URL of the module whose default export is the step. */
  readonly module: string;
  readonly order: Order;
  /** The order's run: with the order id, every remote service's idempotency key (the payment provider's, the vendor's…). */
  readonly run: number;
  /**
   * The claim's fence of the run as this instance holds it (raised by every takeover and hand-over; the run's first in
   * memory, where nothing is taken over): sent with the step's effect, so that a service that has seen a newer claim of
   * the run refuses a request of an older one — a step may run again after a takeover, and the instance it ran on
   * before may finish it late.
   */
  readonly fence: number;
  /** The instance identity holding that claim, as a service's books name the caller; absent in memory. */
  readonly caller?: string;
  /** The request the order came with: steps' log lines carry it. */
  readonly requestId: string;
  /** The order's W3C trace id: steps' log lines carry it too. Absent (the benchmark's inline runner): none. */
  readonly traceId?: string;
  /**
   * Milliseconds left before the order's deadline when the task was posted: each thread's performance.now() has an
   * origin of its own, so a deadline crosses as a span. Absent (the benchmark's inline runner): no deadline.
   */
  readonly remainingMs?: number;
  /**
   * The order's client, by its index in shared memory (src/clients/client-book.ts): whose turn a courier slot is.
   * Absent: 0.
   */
  readonly clientIndex?: number;
}

/** How much of a failure's detail a report carries: a long message or stack is the thread's log line's. */
export const REPORT_DETAIL_CHARS = 300;

/** What a report says of what a step threw: its stack (or message), cut to REPORT_DETAIL_CHARS. */
export function reportDetail(thrown: unknown): string {
  const text = thrown instanceof Error ? (thrown.stack ?? thrown.message) : String(thrown);
  return text.length <= REPORT_DETAIL_CHARS ? text : `${text.slice(0, REPORT_DETAIL_CHARS - 1)}…`;
}

/** What a step that calls a dependency says of it, whatever its status. */
export interface DependencyReport {
  /**
   * On a canceled step, `failed` means it was waiting out the dependency (its added latency, or a backoff) when
   * canceled.
   */
  readonly dependency?: DependencyVerdict;
  /** Calls made again after an unavailable answer; absent when none. */
  readonly retries?: number;
}

/**
 * When things happened to a step on its thread, as spans from its end (each thread's performance.now() has an origin of
 * its own): the main thread lays them on its own clock from when the report arrives, for the order's trace.
 */
export interface StepTimings {
  /** From the moment the thread took the step up to its end. */
  readonly ranMs?: number;
  /** The wait for a courier: how long after the step's start it began, and how long it lasted. */
  readonly courierWaitMs?: readonly [after: number, lasted: number];
}

/** How a step ended, as told by the thread that ran it. */
export type StepReport = DependencyReport &
  StepTimings &
  (
    | { readonly status: 'ok'; readonly threadId: number }
    | { readonly status: 'canceled'; readonly threadId: number }
    | {
        readonly status: 'error';
        readonly threadId: number;
        readonly kind: StepFailureKind | 'internal';
        /**
         * For the log only, never for the client: what went wrong inside the step, cut to REPORT_DETAIL_CHARS (the
         * whole stack is in the thread's own log line).
         */
        readonly detail?: string;
      }
  );

export interface ReadReport extends DependencyReport {
  readonly status: StepReport['status'];
  readonly kind?: OrderFailureKind;
  readonly cause?: OrderFailureKind;
}

/**
 * Main thread: what a report means for the step's outcome. A step that reports canceled was canceled by whatever
 * aborted its order; the dependency failed it only if that was the deadline, while the step waited on it — a step
 * canceled because another failed says nothing of its own.
 */
export function readReport(report: StepReport, signal: CancelSignal): ReadReport {
  // Every field, undefined where it has none: one shape, and no spread, for every step of every order.
  const retries = report.retries || undefined;
  if (report.status === 'canceled') {
    const cause = abortKind(signal.reason);
    const cut = report.dependency === 'failed' && cause === 'timeout';
    return { status: 'canceled', kind: undefined, cause, dependency: cut ? 'failed' : undefined, retries };
  }
  const kind = report.status === 'error' ? report.kind : undefined;
  return { status: report.status, kind, cause: undefined, dependency: report.dependency || undefined, retries };
}

/**
 * A request a step sends the payment provider, posted to the main thread (whose gateway holds the provider's books) the
 * moment the step sends it, as a message of its thread. Self-contained: by the time it arrives, its task and cell may be
 * long gone.
 */
export interface LedgerRequest {
  readonly ledger: true;
  /** charge: take the amount; void: give back what this run charged, and refuse a charge still to come. */
  readonly op: 'charge' | 'void';
  /** The order's key (its client and its id): the provider's books are filed by it. */
  readonly order: OrderKey;
  readonly run: number;
  readonly amount: number;
  /** The provider's test switch: decline the charge (a test card), or refuse the void. */
  readonly test: boolean;
}

/**
 * A step's request to the remote service it acts on (the vendor, the courier service: src/ledger/service-books.ts),
 * posted to the main thread the moment the step sends it, as a LedgerRequest is. Self-contained, and carrying what a
 * real integration would send: the run's key and the claim's fence.
 */
export interface EffectRequest {
  readonly effect: true;
  readonly order: OrderKey;
  readonly run: number;
  /** The step's name: with the run, the service's key. */
  readonly step: string;
  readonly fence: number;
  readonly caller: string | undefined;
}

/** Whatever a step sends a remote service, by its thread's messages. */
export type ServiceRequest = LedgerRequest | EffectRequest;

/** Whether a thread's message is a step's request to the service it acts on. */
export function isEffectRequest(message: unknown): message is EffectRequest {
  return typeof message === 'object' && message !== null && (message as { effect?: unknown }).effect === true;
}

/** Whether a thread's message is a step's request to the payment provider. */
export function isLedgerRequest(message: unknown): message is LedgerRequest {
  return typeof message === 'object' && message !== null && (message as { ledger?: unknown }).ledger === true;
}

/**
 * Bits a step records in its cell's REQUESTS word before a LedgerRequest leaves (CancelCells.noteRequest): should the
 * message be lost with its thread, the main thread still knows what was asked.
 */
export const REQUESTED_CHARGE = 1;
export const REQUESTED_VOID = 2;
export const REQUESTED_TEST = 4;
/** The step asked its service for its effect (an EffectRequest). */
export const REQUESTED_EFFECT = 8;
