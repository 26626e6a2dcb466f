/**
 * W3C Trace Context without an SDK: what runs when no exporter is configured.
 * A request still gets a trace id — the caller's, from its `traceparent`, or a
 * new one — for its log lines and its `traceresponse` header, so one order's
 * lines can be found together across threads whether or not spans are
 * exported. Nothing is recorded: no span is made, no SDK is loaded.
 */
import { isSpanContextValid } from '@opentelemetry/api';
import { parseTraceParent } from '@opentelemetry/core';
import type { RequestSpan, RequestTracing } from '../domain/trace.js';
import { randomHex } from '../random-ids.js';

/** 32 random hex digits. */
export const newTraceId = (): string => randomHex(16);

/** 16 random hex digits. */
export const newSpanId = (): string => randomHex(8);

/** The `traceresponse` header: version 00, the trace, the span that answered, and whether it is sampled. */
export const traceresponseOf = (traceId: string, spanId: string, sampled: boolean): string =>
  `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;

/** The caller's trace id, if its traceparent is a valid one. */
export function callersTraceId(traceparent: string | undefined): string | undefined {
  if (traceparent === undefined) return undefined;
  const parent = parseTraceParent(traceparent);
  return parent && isSpanContextValid(parent) ? parent.traceId : undefined;
}

const NOTHING_RECORDED = (): void => {};

/** Trace ids for the logs and the response, and no spans. */
export const traceIdsOnly: RequestTracing = {
  begin({ requestId, traceparent }) {
    const traceId = callersTraceId(traceparent) ?? newTraceId();
    const spanId = newSpanId();
    const span: RequestSpan = {
      trace: { requestId, traceId, spanId, sampled: false },
      traceresponse: traceresponseOf(traceId, spanId, false),
      carries: NOTHING_RECORDED,
      end: NOTHING_RECORDED,
    };
    return span;
  },
};
