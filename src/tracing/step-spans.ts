/**
 * A step's spans, made on the main thread once the step has ended, from the
 * timings its runner kept and its thread reported: the step, each attempt
 * when there was more than one, the wait for a thread and the wait for a
 * courier. Made after the fact with explicit times and an explicit parent
 * (the order's request span, named by its ids): so a step whose thread died
 * still has its span, with the thread's fate on it, and a step is never the
 * child of whatever else the pool task that carried it held — one task
 * carries many orders.
 */
import { TraceFlags, type Attributes, type SpanContext } from '@opentelemetry/api';
import { isCompensation } from '../domain/steps.js';
import type { Trace } from '../domain/trace.js';
import type { OrderRun } from '../domain/order.js';
import type { AttemptTiming, StepOutcome, StepTimeline } from '../pipeline/steps.js';
import type { FinishedSpans } from './finished-spans.js';

/** The request's span, by its ids: the parent of every span of its order. */
export function requestSpanContext(of: Trace): SpanContext | undefined {
  if (of.traceId === undefined || of.spanId === undefined) return undefined;
  return { traceId: of.traceId, spanId: of.spanId, traceFlags: TraceFlags.SAMPLED };
}

/** What the step's own span says; the order (id, client) is on the request's span, its parent. */
function stepAttributes(outcome: StepOutcome, run: OrderRun): Attributes {
  const attributes: Attributes = { 'step.status': outcome.status, 'step.attempts': outcome.attempts };
  if (run.runNumber > 1) attributes['order.run'] = run.runNumber;
  if (outcome.threadId !== undefined) attributes['thread.id'] = outcome.threadId;
  if (outcome.threadFate) attributes['thread.fate'] = outcome.threadFate;
  if (outcome.kind) attributes['error.type'] = outcome.kind;
  if (outcome.cause) attributes['step.cancel_cause'] = outcome.cause;
  if (outcome.effect) attributes['step.effect'] = outcome.effect;
  if (outcome.dependency) attributes['step.dependency'] = outcome.dependency;
  if (outcome.retries) attributes['step.dependency_retries'] = outcome.retries;
  return attributes;
}

export function recordStep(
  spans: FinishedSpans,
  parent: SpanContext,
  run: OrderRun,
  outcome: StepOutcome,
  timeline: StepTimeline,
): void {
  const step = spans.record({
    name: `${isCompensation(outcome.name) ? 'compensation' : 'step'} ${outcome.name}`,
    parent,
    startedAt: timeline.startedAt,
    endedAt: timeline.endedAt,
    attributes: stepAttributes(outcome, run),
    ...(outcome.status === 'error' ? { error: outcome.kind ?? 'internal' } : {}),
    ...(outcome.status === 'canceled'
      ? {
          events: [
            { name: 'canceled', at: timeline.endedAt, attributes: { 'step.cancel_cause': outcome.cause ?? 'unknown' } },
          ],
        }
      : {}),
  });
  const { attempts } = timeline;
  attempts.forEach((attempt, i) => {
    if (attempts.length === 1) return recordAttemptParts(spans, step, attempt);
    const attemptSpan = spans.record({
      name: `attempt ${i + 1}`,
      parent: step,
      startedAt: attempt.postedAt,
      endedAt: attempt.endedAt,
      attributes: {
        'step.attempt': i + 1,
        ...(attempt.threadId === undefined ? {} : { 'thread.id': attempt.threadId }),
        ...(attempt.threadFate ? { 'thread.fate': attempt.threadFate } : {}),
      },
      ...(attempt.threadFate ? { error: `thread ${attempt.threadFate}` } : {}),
    });
    recordAttemptParts(spans, attemptSpan, attempt);
  });
}

/** The waits of one attempt: for a thread to take it up, and for a courier. */
function recordAttemptParts(spans: FinishedSpans, parent: SpanContext, attempt: AttemptTiming): void {
  if (attempt.startedAt !== undefined)
    spans.record({
      name: 'wait for a thread',
      parent,
      startedAt: attempt.postedAt,
      endedAt: attempt.startedAt,
      ...(attempt.threadId === undefined ? {} : { attributes: { 'thread.id': attempt.threadId } }),
    });
  if (attempt.courierWait)
    spans.record({
      name: 'wait for a courier',
      parent,
      startedAt: attempt.courierWait.from,
      endedAt: attempt.courierWait.to,
    });
}
