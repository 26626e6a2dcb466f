/**
 * What tracing needs of the events, as a port the composition root fills
 * (src/tracing/ implements it; with tracing off there is none, and nothing
 * is recorded): the trace of the order an event is about, kept with the
 * event, and each delivery attempt, told after it ends. The events know no
 * OpenTelemetry: a trace context here is two ids.
 */
import type { EventTraceContext, StoredEvent } from './order-event.js';
import type { AttemptResult } from './webhook-sender.js';

/** The trace of an order whose outcome is being recorded now, if that trace is recorded (sampled). */
export type OrderTraceOf = (order: string) => EventTraceContext | undefined;

/** One attempt to deliver an event to an endpoint, once it has ended. */
export interface DeliveryAttempt {
  readonly event: StoredEvent;
  readonly endpointId: string;
  /** 1 for the first attempt of this delivery. */
  readonly attempt: number;
  /** performance.now() readings. */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly outcome: 'delivered' | 'failed' | 'gone';
  /** The endpoint's HTTP status, if it answered. */
  readonly status: number | undefined;
  /** Why it failed, if it did. */
  readonly reason: string | undefined;
}

export interface DeliveryRecorder {
  attempted(attempt: DeliveryAttempt): void;
}

/** Tell `recorder`, if any, of an attempt that has just ended with `result` (both the relay and the durable lanes). */
export function tellAttempt(
  recorder: DeliveryRecorder | undefined,
  attempt: Pick<DeliveryAttempt, 'event' | 'endpointId' | 'attempt' | 'startedAt'>,
  result: AttemptResult,
): void {
  recorder?.attempted({
    ...attempt,
    endedAt: performance.now(),
    outcome: result.outcome,
    status: result.status,
    reason: result.outcome === 'failed' ? result.reason : undefined,
  });
}
