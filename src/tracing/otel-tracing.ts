/**
 * Tracing with OpenTelemetry's SDK, set up by hand in this process's main
 * thread only — not by the auto-instrumentation's register hook, which would
 * start an SDK in every worker thread, shut it down at SIGTERM before the
 * drain's orders are answered, and instrument every HTTP call (a reported 80%
 * drop in throughput in a main-thread-plus-workers design).
 *
 * Every span of an order is made here, on the main thread: the request's
 * server span (continuing the caller's `traceparent`; its ids and the
 * sampler's decision as it arrives, the span once it is answered), then, as
 * each step ends, the step's spans from its timings (step-spans.ts), and the
 * durable store's statements — all as finished spans (finished-spans.ts).
 * They are encoded and sent from a thread of their own (export-thread.ts), in
 * batches (the SDK's BatchSpanProcessor) over OTLP/HTTP, protobuf or JSON;
 * `close` exports what is left, at the end of the drain, so every answered
 * order's spans leave before the process exits.
 */
import {
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  TraceFlags,
  trace,
  type Attributes,
  type Context,
  type SpanContext,
  type TextMapGetter,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SamplingResult,
} from '@opentelemetry/sdk-trace';
import type { TracingConfig } from '../config.js';
import type { ArrivingRequest, RequestSpan, RequestTracing, StatementDone, Trace } from '../domain/trace.js';
import type { OrderRun } from '../domain/order.js';
import type { StepOutcome, StepRecorder, StepTimeline } from '../pipeline/steps.js';
import type { DeliveryAttempt, DeliveryRecorder } from '../events/delivery-traces.js';
import type { EventTraceContext } from '../events/order-event.js';
import { ExportThread } from './export-thread.js';
import { FinishedSpans } from './finished-spans.js';
import type { RecentTraces } from './recent-traces.js';
import { recordStep, requestSpanContext } from './step-spans.js';
import { traceresponseOf } from './trace-ids.js';
import { SERVICE_VERSION } from '../version.js';

/**
 * `traceidratio`, for callers not trusted: a ratio of requests by a draw of this service's own. OpenTelemetry's
 * TraceIdRatioBasedSampler decides by the trace id, which a caller's traceparent chooses, and a caller that chose one
 * below the ratio's bound (…00000001) had every order recorded; drawn here, what a client can make recorded is the
 * ratio of what it sends, whatever it sends. The trace is still the caller's: only the decision is ours.
 */
class DrawnRatioSampler implements Sampler {
  private readonly byId: TraceIdRatioBasedSampler;

  constructor(
    private readonly ratio: number,
    private readonly draw: () => string,
  ) {
    this.byId = new TraceIdRatioBasedSampler(ratio);
  }

  shouldSample(context: Context): SamplingResult {
    return this.byId.shouldSample(context, this.draw());
  }

  toString(): string {
    return `DrawnRatioSampler{${this.ratio}}`;
  }
}

/** `draw`: a random trace id of this service's own, for the ratio of callers not trusted. */
function samplerOf({ sampler, samplerRatio }: TracingConfig, draw: () => string): Sampler {
  switch (sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new DrawnRatioSampler(samplerRatio, draw);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(samplerRatio) });
  }
}

/** The two headers of W3C Trace Context, read off the request as given. */
interface CallerHeaders {
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
}
const callerHeaders: TextMapGetter<CallerHeaders> = {
  keys: () => ['traceparent', 'tracestate'],
  get: (carrier, key) =>
    key === 'traceparent' ? carrier.traceparent : key === 'tracestate' ? carrier.tracestate : undefined,
};

export class OtelTracing implements RequestTracing, StepRecorder, DeliveryRecorder {
  private readonly sampler: Sampler;
  private readonly propagator = new W3CTraceContextPropagator();
  /** Orders whose request is in flight, by key: where their statements go. */
  private readonly ordersInFlight = new Map<string, Trace>();
  /** The spans made after the fact: the steps', the statements'. */
  private readonly finished: FinishedSpans;
  private readonly exportThread: ExportThread;

  /** exportWorker: the compiled export-worker.js (worker threads run the build). */
  constructor(config: TracingConfig, recent: RecentTraces, exportWorker: URL) {
    const resource = defaultResource().merge(
      resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': SERVICE_VERSION }),
    );
    this.exportThread = new ExportThread(config, SERVICE_VERSION, exportWorker);
    this.finished = new FinishedSpans(this.exportThread, recent, resource, {
      name: 'order-threads',
      version: SERVICE_VERSION,
    });
    const { ids } = this.finished;
    this.sampler = samplerOf(config, () => ids.generateTraceId());
  }

  /**
   * The request's span: its ids and the sampler's decision at once (the traceresponse header and the log lines need
   * them), the span itself made once it is answered — what the SDK's tracer would do, without a live span.
   */
  begin({ method, requestId, traceparent, tracestate, arrivedAt }: ArrivingRequest): RequestSpan {
    const callers: Context =
      traceparent === undefined
        ? ROOT_CONTEXT
        : this.propagator.extract(ROOT_CONTEXT, { traceparent, tracestate }, callerHeaders);
    const caller = trace.getSpanContext(callers);
    const parent = caller && isSpanContextValid(caller) ? caller : undefined;
    const { ids } = this.finished;
    const traceId = parent?.traceId ?? ids.generateTraceId();
    const spanId = ids.generateSpanId();
    const decision = this.sampler.shouldSample(callers, traceId, method, SpanKind.SERVER, {}, []);
    const sampled = decision.decision === SamplingDecision.RECORD_AND_SAMPLED;
    const state = decision.traceState ?? parent?.traceState;
    const context: SpanContext = {
      traceId,
      spanId,
      traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
      ...(state ? { traceState: state } : {}),
    };
    const requestTrace: Trace = { requestId, traceId, spanId, sampled };
    let carried: string | undefined;
    return {
      trace: requestTrace,
      traceresponse: traceresponseOf(traceId, spanId, sampled),
      carries: (order) => {
        if (!sampled || this.ordersInFlight.has(order)) return;
        carried = order;
        this.ordersInFlight.set(order, requestTrace);
      },
      end: ({ status, route, client, orderId, kind }) => {
        if (carried !== undefined) this.ordersInFlight.delete(carried);
        if (!sampled) return;
        const attributes: Attributes = {
          ...decision.attributes,
          'http.request.method': method,
          'http.response.status_code': status,
          'http.request.id': requestId,
        };
        if (route !== undefined) attributes['http.route'] = route;
        if (client !== undefined) attributes['order.client'] = client;
        if (orderId !== undefined) attributes['order.id'] = orderId;
        if (kind !== undefined && kind !== 'ok') attributes['error.type'] = kind;
        this.finished.record({
          name: route === undefined ? method : `${method} ${route}`,
          kind: SpanKind.SERVER,
          context,
          ...(parent ? { parent } : {}),
          startedAt: arrivedAt,
          endedAt: performance.now(),
          attributes,
          ...(status >= 500 ? { error: kind ?? String(status) } : {}),
        });
      },
    };
  }

  records(of: Trace): boolean {
    return of.sampled === true;
  }

  stepEnded(of: Trace, run: OrderRun, outcome: StepOutcome, timeline: StepTimeline): void {
    const parent = requestSpanContext(of);
    if (parent) recordStep(this.finished, parent, run, outcome, timeline);
  }

  /** A durable statement of an order whose request is in flight: a client span in its trace. */
  readonly statementDone = ({ name, order, startedAt, endedAt, batched, failed }: StatementDone): void => {
    const of = this.ordersInFlight.get(order);
    const parent = of && requestSpanContext(of);
    if (!parent) return;
    this.finished.record({
      name: `postgres ${name}`,
      parent,
      kind: SpanKind.CLIENT,
      startedAt,
      endedAt,
      attributes: { 'db.system.name': 'postgresql', 'db.operation.name': name, 'db.operation.batch.size': batched },
      ...(failed ? { error: 'failed' } : {}),
    });
  };

  /** The trace of an order whose request is in flight (its outcome is recorded before it is answered), for its events. */
  readonly orderTraceOf = (order: string): EventTraceContext | undefined => {
    const of = this.ordersInFlight.get(order);
    return of?.traceId !== undefined && of.spanId !== undefined
      ? { traceId: of.traceId, spanId: of.spanId }
      : undefined;
  };

  /**
   * A webhook delivery attempt of an event whose order's trace is recorded: a root span in the order's trace, linked
   * to the order's server span — not its child: it runs after the order is answered, and its retries go on for
   * minutes, which would stretch the request's waterfall (docs/operating.md, Tracing).
   */
  attempted({ event, endpointId, attempt, startedAt, endedAt, outcome, status, reason }: DeliveryAttempt): void {
    const order = event.trace;
    if (!order) return;
    const attributes: Attributes = {
      'webhook.endpoint.id': endpointId,
      'webhook.event.id': event.id,
      'webhook.event.type': event.type,
      'webhook.attempt': attempt,
      'webhook.outcome': outcome,
      'order.client': event.client,
      'order.id': event.orderId,
    };
    if (status !== undefined) attributes['http.response.status_code'] = status;
    this.finished.record({
      name: `webhook ${event.type}`,
      kind: SpanKind.CLIENT,
      traceId: order.traceId,
      links: [order],
      startedAt,
      endedAt,
      attributes,
      ...(outcome === 'delivered'
        ? {}
        : { error: reason ?? (status === undefined ? outcome : `${outcome} ${status}`) }),
    });
  }

  /** Export every span ended so far, then stop. */
  async close(): Promise<void> {
    await this.exportThread.close();
  }
}
