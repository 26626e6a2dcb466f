/**
 * What ties together everything done for one request — on the main thread
 * and in every worker thread its steps run on — so that its log lines can be
 * found together, and its spans put in one trace (W3C Trace Context).
 *
 * Plain data: it crosses layers, and its ids cross into worker threads,
 * without any of them knowing OpenTelemetry (src/tracing/ does).
 */
export interface Trace {
  readonly requestId: string;
  /** The W3C trace id (32 lowercase hex digits) of the request: every log line about its order carries it. */
  readonly traceId?: string;
  /** The request's own span in that trace (its server span, 16 hex digits): the parent of every span of its order. */
  readonly spanId?: string;
  /** The trace is recorded (sampled): its order's spans are made. If not, only its id travels, in the logs. */
  readonly sampled?: boolean;
}

/** A log line's fields naming a trace: `trace_id` when there is one. */
export function traceLogFields(trace: Trace): { readonly trace_id?: string } {
  return trace.traceId === undefined ? {} : { trace_id: trace.traceId };
}

/** A request as it arrives, as tracing needs it. */
export interface ArrivingRequest {
  readonly method: string;
  readonly requestId: string;
  /** The caller's W3C `traceparent` and `tracestate` headers, if any: its trace is continued. */
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  /** When it arrived (performance.now()). */
  readonly arrivedAt: number;
}

/** What the request's own span records when it is answered. */
export interface AnsweredRequest {
  readonly status: number;
  /** The route's pattern (`/order`, `/orders/{order_id}`), for the span's name; absent: the method alone. */
  readonly route?: string;
  readonly client?: string;
  readonly orderId?: string;
  /** The order's outcome or the request's error kind (`ok` for a success). */
  readonly kind?: string;
}

/** The request's own span: started as it arrives, ended as it is answered. */
export interface RequestSpan {
  readonly trace: Trace;
  /** The response's `traceresponse` header (W3C Trace Context Level 2): the trace id and this span's id. */
  readonly traceresponse: string;
  /**
   * The request is about this order (its key, client:order_id): until the request is answered, what is done for the
   * order outside of its steps (its durable statements) goes in this trace.
   */
  carries(order: string): void;
  end(answered: AnsweredRequest): void;
}

/** Tracing as the HTTP layer sees it (src/tracing/ implements it). */
export interface RequestTracing {
  begin(request: ArrivingRequest): RequestSpan;
}

/**
 * A durable store's statement, as done for one order: from the call to its answer — the statement itself may have
 * carried other orders' calls too (batched). Told to tracing, which puts it in the order's trace if it is in flight.
 */
export interface StatementDone {
  /** The statement's name (`order_begin`, `charge`…). */
  readonly name: string;
  /** The order's key (client:order_id). */
  readonly order: string;
  readonly startedAt: number;
  readonly endedAt: number;
  /** Calls the statement carried, this one included. */
  readonly batched: number;
  readonly failed: boolean;
}

export type StatementObserver = (statement: StatementDone) => void;

/** A span of a recent trace, as the live page draws it: times in ms from the start of the request. */
export interface WaterfallSpan {
  readonly name: string;
  readonly span_id: string;
  /** Absent for the request's own span. */
  readonly parent_span_id?: string;
  readonly start_ms: number;
  readonly duration_ms: number;
  /** The worker thread it ran on, if it ran on one. */
  readonly thread_id?: number;
  readonly status: 'ok' | 'error' | 'canceled';
  /** What went wrong: the error kind, what canceled it, the fate of its thread. */
  readonly detail?: string;
}

/** One recent order's trace, for the live page's waterfall (GET /threads/trace). */
export interface TraceWaterfall {
  readonly trace_id: string;
  readonly order_id: string;
  readonly duration_ms: number;
  readonly spans: readonly WaterfallSpan[];
}

/** The last order traced, if any; asking also keeps the next orders' traces for a while (the page polls). */
export type RecentTrace = () => TraceWaterfall | undefined;
