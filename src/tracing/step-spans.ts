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
import {
  ROOT_CONTEXT,
  SpanStatusCode,
  TraceFlags,
  trace,
  type Attributes,
  type Context,
  type Tracer,
} from '@opentelemetry/api';
import { isCompensation } from '../domain/steps.js';
import type { Trace } from '../domain/trace.js';
import type { OrderRun } from '../domain/order.js';
import type { AttemptTiming, StepOutcome, StepTimeline } from '../pipeline/steps.js';

/** The context whose span is the request's: the parent of every span of its order. */
export function requestContext(of: Trace): Context | undefined {
  if (of.traceId === undefined || of.spanId === undefined) return undefined;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: of.traceId,
    spanId: of.spanId,
    traceFlags: TraceFlags.SAMPLED,
  });
}

function stepAttributes(outcome: StepOutcome, run: OrderRun): Attributes {
  const attributes: Attributes = {
    'order.id': run.order.orderId,
    'order.client': run.order.client,
    'order.run': run.runNumber,
    'step.name': outcome.name,
    'step.status': outcome.status,
    'step.attempts': outcome.attempts,
  };
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
  tracer: Tracer,
  parent: Context,
  run: OrderRun,
  outcome: StepOutcome,
  timeline: StepTimeline,
): void {
  const name = `${isCompensation(outcome.name) ? 'compensation' : 'step'} ${outcome.name}`;
  const span = tracer.startSpan(
    name,
    { startTime: timeline.startedAt, attributes: stepAttributes(outcome, run) },
    parent,
  );
  if (outcome.status === 'error') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.kind ?? 'internal' });
  else if (outcome.status === 'canceled')
    span.addEvent('canceled', { 'step.cancel_cause': outcome.cause ?? 'unknown' }, timeline.endedAt);
  const within = trace.setSpan(parent, span);
  const { attempts } = timeline;
  attempts.forEach((attempt, i) => {
    if (attempts.length === 1) return recordAttemptParts(tracer, within, attempt);
    const attemptSpan = tracer.startSpan(
      `attempt ${i + 1}`,
      { startTime: attempt.postedAt, attributes: attemptAttributes(attempt, i + 1) },
      within,
    );
    if (attempt.threadFate)
      attemptSpan.setStatus({ code: SpanStatusCode.ERROR, message: `thread ${attempt.threadFate}` });
    recordAttemptParts(tracer, trace.setSpan(within, attemptSpan), attempt);
    attemptSpan.end(attempt.endedAt);
  });
  span.end(timeline.endedAt);
}

function attemptAttributes(attempt: AttemptTiming, number: number): Attributes {
  return {
    'step.attempt': number,
    ...(attempt.threadId === undefined ? {} : { 'thread.id': attempt.threadId }),
    ...(attempt.threadFate ? { 'thread.fate': attempt.threadFate } : {}),
  };
}

/** The waits of one attempt: for a thread to take it up, and for a courier. */
function recordAttemptParts(tracer: Tracer, parent: Context, attempt: AttemptTiming): void {
  if (attempt.startedAt !== undefined) {
    const wait = tracer.startSpan(
      'wait for a thread',
      {
        startTime: attempt.postedAt,
        ...(attempt.threadId === undefined ? {} : { attributes: { 'thread.id': attempt.threadId } }),
      },
      parent,
    );
    wait.end(attempt.startedAt);
  }
  if (attempt.courierWait) {
    tracer.startSpan('wait for a courier', { startTime: attempt.courierWait.from }, parent).end(attempt.courierWait.to);
  }
}
