/**
 * Spans made after the fact: everything of them is known when they are made
 * — their times, parent, attributes, status — so they skip the SDK's live
 * Span (a sampler's call, attribute checks, a context per span, a clock read
 * each end) and go straight to the span processors as the finished spans
 * (ReadableSpan) the SDK itself hands them. Measured: that halves what a
 * traced order costs the main thread (docs/measurements/2026-11-23-tracing-cost.md).
 *
 * Only children of a recorded (sampled) request are made here: a parent-based
 * sampler keeps them with it, and a trace-id ratio decides the same for every
 * span of a trace, so the request's decision is theirs.
 */
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type SpanContext } from '@opentelemetry/api';
import { hrTime, hrTimeDuration, type InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { RandomIdGenerator, type ReadableSpan, type SpanProcessor, type TimedEvent } from '@opentelemetry/sdk-trace';

const UNSET = { code: SpanStatusCode.UNSET } as const;

/** One span, already ended. Times are this thread's performance.now(). */
export interface FinishedSpan {
  readonly name: string;
  readonly parent: SpanContext;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly attributes?: Attributes;
  readonly kind?: SpanKind;
  /** Its status is error, with this message. */
  readonly error?: string;
  readonly events?: ReadonlyArray<{ readonly name: string; readonly at: number; readonly attributes?: Attributes }>;
}

export class FinishedSpans {
  private readonly ids = new RandomIdGenerator();

  constructor(
    private readonly processors: readonly SpanProcessor[],
    private readonly resource: Resource,
    private readonly scope: InstrumentationScope,
  ) {}

  /** Hands the span to the processors (export, the page's recent traces); its context, for its children. */
  record({
    name,
    parent,
    startedAt,
    endedAt,
    attributes = {},
    kind = SpanKind.INTERNAL,
    error,
    events,
  }: FinishedSpan): SpanContext {
    const context: SpanContext = {
      traceId: parent.traceId,
      spanId: this.ids.generateSpanId(),
      traceFlags: TraceFlags.SAMPLED,
    };
    const startTime = hrTime(startedAt);
    const endTime = hrTime(Math.max(startedAt, endedAt));
    const span: ReadableSpan = {
      name,
      kind,
      spanContext: () => context,
      parentSpanContext: parent,
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
