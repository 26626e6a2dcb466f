/**
 * Every span of an order is made after the fact: everything of it is known
 * when it is made — its times, parent, attributes, status — so it skips the
 * SDK's live Span (a sampler's call, attribute checks, a context per span, a
 * clock read at each end) and is handed, as a plain record, to the export
 * thread (export-thread.ts), which makes of it the finished span
 * (ReadableSpan) the SDK's processors take, and encodes and sends it. The
 * main thread makes a ReadableSpan only for the live page, while it gathers
 * a trace. Why: docs/decisions/side-threads.md.
 *
 * The request's span is sampled as it arrives (otel-tracing.ts); only the
 * children of a recorded request are made: a parent-based sampler keeps them
 * with it, and a trace-id ratio decides the same for every span of a trace.
 */
import { SpanKind, TraceFlags, type Attributes, type SpanContext } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { RandomIdGenerator } from '@opentelemetry/sdk-trace';
import type { ExportThread } from './export-thread.js';
import type { RecentTraces } from './recent-traces.js';
import { readableSpanOf, type SpanRecord } from './span-records.js';

/** One span, already ended. Times are this thread's performance.now(). */
export interface FinishedSpan {
  readonly name: string;
  /** Absent: a root span (a request no caller's trace came with, a webhook delivery). */
  readonly parent?: SpanContext;
  /** A root span's trace, if not a new one (a webhook delivery's: its order's). */
  readonly traceId?: string;
  readonly links?: SpanRecord['links'];
  /** Its own ids, if given out before it ended (a request's, in its traceresponse); made here otherwise. */
  readonly context?: SpanContext;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly attributes?: Attributes;
  readonly kind?: SpanKind;
  /** Its status is error, with this message. */
  readonly error?: string;
  readonly events?: SpanRecord['events'];
}

export class FinishedSpans {
  readonly ids = new RandomIdGenerator();

  constructor(
    private readonly exportThread: ExportThread,
    private readonly recent: RecentTraces,
    private readonly resource: Resource,
    private readonly scope: InstrumentationScope,
  ) {}

  /** Hands the span to the export thread, and to the live page when it gathers traces; its context, for its children. */
  record({
    name,
    parent,
    traceId,
    links,
    context: given,
    startedAt,
    endedAt,
    attributes = {},
    kind = SpanKind.INTERNAL,
    error,
    events,
  }: FinishedSpan): SpanContext {
    const context: SpanContext = given ?? {
      traceId: parent?.traceId ?? traceId ?? this.ids.generateTraceId(),
      spanId: this.ids.generateSpanId(),
      traceFlags: TraceFlags.SAMPLED,
    };
    // Only recorded spans are made: their flags are always sampled (span-records.ts).
    const record: SpanRecord = {
      name,
      kind,
      traceId: context.traceId,
      spanId: context.spanId,
      traceState: context.traceState?.serialize(),
      parentSpanId: parent?.spanId,
      parentIsRemote: parent?.isRemote,
      startedAt,
      endedAt,
      attributes,
      error,
      events,
      links,
    };
    this.exportThread.add(record);
    if (this.recent.gathers())
      this.recent.onEnd(readableSpanOf(record, this.resource, this.scope, performance.timeOrigin));
    return context;
  }
}
