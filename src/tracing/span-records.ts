/**
 * A finished span as plain data: what the main thread hands the export
 * thread (export-thread.ts), in batches, as a structured clone. Times stay
 * the main thread's performance.now() readings and become the SDK's hrtime
 * on the export thread, with the main thread's time origin — the same
 * arithmetic the SDK's own hrTime() does on the main thread. The SDK's
 * ReadableSpan (a closure, shared resource and scope) is made from it there;
 * on the main thread only when the live page gathers a trace.
 */
import {
  SpanStatusCode,
  TraceFlags,
  type SpanKind,
  type Attributes,
  type HrTime,
  type SpanContext,
} from '@opentelemetry/api';
import { addHrTimes, hrTimeDuration, millisToHrTime, TraceState, type InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';

/** A finished span; its trace state as its header's text (a structured clone keeps no TraceState's methods). */
export interface SpanRecord {
  readonly name: string;
  readonly kind: SpanKind;
  readonly traceId: string;
  readonly spanId: string;
  readonly traceState?: string | undefined;
  /** Absent: a root span. */
  readonly parentSpanId?: string | undefined;
  /** The parent came with the request (a caller's traceparent). */
  readonly parentIsRemote?: boolean | undefined;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly attributes: Attributes;
  /** Its status is error, with this message. */
  readonly error?: string | undefined;
  readonly events?: ReadonlyArray<{ readonly name: string; readonly at: number; readonly attributes?: Attributes }>;
  /** Spans of other requests it follows from (a webhook delivery's order), by their trace and span ids. */
  readonly links?: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }> | undefined;
}

/**
 * A batch of records as one flat array, SLOTS values a span: a structured clone writes every property's name of every
 * object it copies, and a span's fields as objects were most of what the hand-over cost.
 */
const SLOTS = 13;
export type FlatSpans = unknown[];

export function pushRecord(batch: FlatSpans, r: SpanRecord): void {
  batch.push(
    r.name,
    r.kind,
    r.traceId,
    r.spanId,
    r.traceState,
    r.parentSpanId,
    r.parentIsRemote,
    r.startedAt,
    r.endedAt,
    r.attributes,
    r.error,
    r.events,
    r.links,
  );
}

export const spansIn = (batch: FlatSpans): number => batch.length / SLOTS;

export function recordAt(batch: FlatSpans, index: number): SpanRecord {
  const at = index * SLOTS;
  return {
    name: batch[at] as string,
    kind: batch[at + 1] as SpanKind,
    traceId: batch[at + 2] as string,
    spanId: batch[at + 3] as string,
    traceState: batch[at + 4] as string | undefined,
    parentSpanId: batch[at + 5] as string | undefined,
    parentIsRemote: batch[at + 6] as boolean | undefined,
    startedAt: batch[at + 7] as number,
    endedAt: batch[at + 8] as number,
    attributes: batch[at + 9] as Attributes,
    error: batch[at + 10] as string | undefined,
    events: batch[at + 11] as SpanRecord['events'],
    links: batch[at + 12] as SpanRecord['links'],
  };
}

const UNSET = { code: SpanStatusCode.UNSET } as const;
const NO_LINKS: ReadableSpan['links'] = [];

export function readableSpanOf(
  record: SpanRecord,
  resource: Resource,
  scope: InstrumentationScope,
  timeOrigin: number,
): ReadableSpan {
  const origin = millisToHrTime(timeOrigin);
  const at = (ms: number): HrTime => addHrTimes(origin, millisToHrTime(ms));
  const { traceId, error, events, links } = record;
  const context: SpanContext = {
    traceId,
    spanId: record.spanId,
    traceFlags: TraceFlags.SAMPLED,
    ...(record.traceState === undefined ? {} : { traceState: new TraceState(record.traceState) }),
  };
  const parent: SpanContext | undefined =
    record.parentSpanId === undefined
      ? undefined
      : {
          traceId,
          spanId: record.parentSpanId,
          traceFlags: TraceFlags.SAMPLED,
          ...(record.parentIsRemote ? { isRemote: true } : {}),
        };
  const startTime = at(record.startedAt);
  const endTime = at(Math.max(record.startedAt, record.endedAt));
  return {
    name: record.name,
    kind: record.kind,
    spanContext: () => context,
    ...(parent ? { parentSpanContext: parent } : {}),
    startTime,
    endTime,
    duration: hrTimeDuration(startTime, endTime),
    status: error === undefined ? UNSET : { code: SpanStatusCode.ERROR, message: error },
    attributes: record.attributes,
    links: links
      ? links.map((link) => ({
          context: { traceId: link.traceId, spanId: link.spanId, traceFlags: TraceFlags.SAMPLED },
        }))
      : NO_LINKS,
    events: events
      ? events.map((event): TimedEvent => ({
          name: event.name,
          time: at(event.at),
          ...(event.attributes ? { attributes: event.attributes } : {}),
        }))
      : [],
    ended: true,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}
