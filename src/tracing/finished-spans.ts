/**
 * Every span of an order is made after the fact: everything of it is known
 * when it is made — its times, parent, attributes, status — so it skips the
 * SDK's live Span (a sampler's call, attribute checks, a context per span, a
 * clock read at each end) and goes straight to the span processors as the
 * finished span (ReadableSpan) the SDK itself hands them. Measured: a traced
 * order's spans cost the main thread a third less than through live spans
 * (docs/measurements/2026-11-23-tracing-cost.md).
 *
 * The request's span is sampled as it arrives (otel-tracing.ts); only the
 * children of a recorded request are made: a parent-based sampler keeps them
 * with it, and a trace-id ratio decides the same for every span of a trace.
 */
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type SpanContext } from '@opentelemetry/api';
import { hrTime, hrTimeDuration, type InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { RandomIdGenerator, type ReadableSpan, type SpanProcessor, type TimedEvent } from '@opentelemetry/sdk-trace';

const UNSET = { code: SpanStatusCode.UNSET } as const;

/** One span, already ended. Times are this thread's performance.now(). */
export interface FinishedSpan {
  readonly name: string;
  /** Absent: a root span (a request no caller's trace came with). */
  readonly parent?: SpanContext;
  /** Its own ids, if given out before it ended (a request's, in its traceresponse); made here otherwise. */
  readonly context?: SpanContext;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly attributes?: Attributes;
  readonly kind?: SpanKind;
  /** Its status is error, with this message. */
  readonly error?: string;
  readonly events?: ReadonlyArray<{ readonly name: string; readonly at: number; readonly attributes?: Attributes }>;
}

export class FinishedSpans {
  readonly ids = new RandomIdGenerator();

  constructor(
    private readonly processors: readonly SpanProcessor[],
    private readonly resource: Resource,
    private readonly scope: InstrumentationScope,
  ) {}

  /** Hands the span to the processors (export, the page's recent traces); its context, for its children. */
  record({
    name,
    parent,
    context: given,
    startedAt,
    endedAt,
    attributes = {},
    kind = SpanKind.INTERNAL,
    error,
    events,
  }: FinishedSpan): SpanContext {
    const context: SpanContext = given ?? {
      traceId: parent?.traceId ?? this.ids.generateTraceId(),
      spanId: this.ids.generateSpanId(),
      traceFlags: TraceFlags.SAMPLED,
    };
    const startTime = hrTime(startedAt);
    const endTime = hrTime(Math.max(startedAt, endedAt));
    const span: ReadableSpan = {
      name,
      kind,
      spanContext: () => context,
      ...(parent ? { parentSpanContext: parent } : {}),
      startTime,
      endTime,
      duration: hrTimeDuration(startTime, endTime),
      status: error === undefined ? UNSET : { code: SpanStatusCode.ERROR, message: error },
      attributes,
      links: [],
      events: events
        ? events.map((event): TimedEvent => ({
            name: event.name,
            time: hrTime(event.at),
            ...(event.attributes ? { attributes: event.attributes } : {}),
          }))
        : [],
      ended: true,
      resource: this.resource,
      instrumentationScope: this.scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
    for (const processor of this.processors) processor.onEnd(span);
    return context;
  }
}
