/**
 * The last order's trace, kept in memory for the live page's waterfall
 * (GET /threads/trace): a span processor beside the exporter's. It keeps
 * nothing until the page asks, and then only for a minute after each ask, so
 * that an instance nobody watches pays one comparison per span. Every span
 * of an order ends before its request's span does (the steps, the refund and
 * the statements are over before the answer), so the trace is complete when
 * the request's span ends: it becomes the last trace, and the spans kept for
 * it are let go.
 */
import { SpanKind, SpanStatusCode, type Context } from '@opentelemetry/api';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { TraceWaterfall, WaterfallSpan } from '../domain/trace.js';

/** How long after the page last asked spans are kept. */
const WATCHED_MS = 60_000;
/** Traces being gathered at once, at most: an order whose request never ends is let go after this many others. */
const GATHERED_MAX = 256;

const round = (ms: number): number => Math.round(ms * 100) / 100;

function statusOf(span: ReadableSpan): WaterfallSpan['status'] {
  if (span.status.code === SpanStatusCode.ERROR) return 'error';
  return span.attributes['step.status'] === 'canceled' ? 'canceled' : 'ok';
}

function detailOf(span: ReadableSpan): string | undefined {
  const { attributes } = span;
  const said = [attributes['error.type'], attributes['step.cancel_cause'], attributes['thread.fate']].filter(
    (value) => value !== undefined,
  );
  return said.length > 0 ? said.map(String).join(', ') : undefined;
}

export class RecentTraces implements SpanProcessor {
  private watchedUntil = 0;
  private readonly gathering = new Map<string, ReadableSpan[]>();
  private last: TraceWaterfall | undefined;

  /** The last order traced; keeps the next ones' for a minute more. */
  recent(): TraceWaterfall | undefined {
    this.watchedUntil = performance.now() + WATCHED_MS;
    return this.last;
  }

  /** Whether spans are being gathered: the page asked within the last minute. */
  gathers(): boolean {
    return this.watchedUntil !== 0;
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (this.watchedUntil === 0) return;
    if (performance.now() > this.watchedUntil) {
      this.watchedUntil = 0;
      this.gathering.clear();
      return;
    }
    const { traceId } = span.spanContext();
    let spans = this.gathering.get(traceId);
    if (!spans) {
      if (this.gathering.size >= GATHERED_MAX) this.gathering.delete(this.gathering.keys().next().value!);
      spans = [];
      this.gathering.set(traceId, spans);
    }
    spans.push(span);
    const orderId = span.attributes['order.id'];
    if (span.kind !== SpanKind.SERVER || typeof orderId !== 'string') return;
    this.gathering.delete(traceId);
    this.last = waterfallOf(span, orderId, spans);
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {
    this.gathering.clear();
  }
}

function waterfallOf(request: ReadableSpan, orderId: string, spans: readonly ReadableSpan[]): TraceWaterfall {
  const origin = hrTimeToMilliseconds(request.startTime);
  const requestId = request.spanContext().spanId;
  return {
    trace_id: request.spanContext().traceId,
    order_id: orderId,
    duration_ms: round(hrTimeToMilliseconds(request.duration)),
    spans: spans
      .map((span): WaterfallSpan => {
        const parent = span.parentSpanContext?.spanId;
        const threadId = span.attributes['thread.id'];
        const detail = detailOf(span);
        return {
          name: span.name,
          span_id: span.spanContext().spanId,
          ...(parent && span.spanContext().spanId !== requestId ? { parent_span_id: parent } : {}),
          start_ms: round(hrTimeToMilliseconds(span.startTime) - origin),
          duration_ms: round(hrTimeToMilliseconds(span.duration)),
          ...(typeof threadId === 'number' ? { thread_id: threadId } : {}),
          status: statusOf(span),
          ...(detail ? { detail } : {}),
        };
      })
      .sort((a, b) => a.start_ms - b.start_ms),
  };
}
