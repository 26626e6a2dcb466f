/**
 * Tracing with OpenTelemetry's SDK, set up by hand in this process's main
 * thread only — not by the auto-instrumentation's register hook, which would
 * start an SDK in every worker thread, shut it down at SIGTERM before the
 * drain's orders are answered, and instrument every HTTP call (a reported 80%
 * drop in throughput in a main-thread-plus-workers design).
 *
 * Every span of an order is made here, on the main thread: the request's
 * server span (continuing the caller's `traceparent`), then, as each step
 * ends, the step's spans from its timings (step-spans.ts), and the durable
 * store's statements. Spans leave in batches (BatchSpanProcessor) over OTLP
 * /HTTP, protobuf or JSON; `close` exports what is left, at the end of the
 * drain, so every answered order's spans leave before the process exits.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Attributes,
  type Context,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { TracingConfig } from '../config.js';
import type { ArrivingRequest, RequestSpan, RequestTracing, StatementDone, Trace } from '../domain/trace.js';
import type { OrderRun } from '../domain/order.js';
import type { StepOutcome, StepRecorder, StepTimeline } from '../pipeline/steps.js';
import { FinishedSpans } from './finished-spans.js';
import { recordStep, requestSpanContext } from './step-spans.js';
import { traceresponseOf } from './trace-ids.js';
import { SERVICE_VERSION } from '../version.js';

/**
 * Spans waiting to leave, at most: an order makes about ten, so a few seconds of a busy instance's orders; beyond it
 * the processor drops spans rather than grow without bound.
 */
const MAX_QUEUED_SPANS = 65_536;
const EXPORT_BATCH_SPANS = 2048;
/** How often a batch leaves when none fills up. */
const EXPORT_EVERY_MS = 1000;

function samplerOf({ sampler, samplerRatio }: TracingConfig): Sampler {
  switch (sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(samplerRatio);
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

export class OtelTracing implements RequestTracing, StepRecorder {
  private readonly provider: TracerProvider;
  private readonly tracer: Tracer;
  private readonly propagator = new W3CTraceContextPropagator();
  /** Orders whose request is in flight, by key: where their statements go. */
  private readonly ordersInFlight = new Map<string, Trace>();
  /** The spans made after the fact: the steps', the statements'. */
  private readonly finished: FinishedSpans;

  constructor(config: TracingConfig, extraProcessors: readonly SpanProcessor[] = []) {
    const exporter =
      config.protocol === 'http/json'
        ? new JsonExporter({ url: config.tracesUrl })
        : new ProtobufExporter({ url: config.tracesUrl });
    const resource = defaultResource().merge(
      resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': SERVICE_VERSION }),
    );
    const processors = [
      new BatchSpanProcessor({
        exporter,
        maxQueueSize: MAX_QUEUED_SPANS,
        maxExportBatchSize: EXPORT_BATCH_SPANS,
        scheduledDelayMillis: EXPORT_EVERY_MS,
      }),
      ...extraProcessors,
    ];
    this.provider = new TracerProvider({ resource, sampler: samplerOf(config), spanProcessors: processors });
    const scope = { name: 'order-threads', version: SERVICE_VERSION };
    this.tracer = this.provider.getTracer(scope.name, scope.version);
    this.finished = new FinishedSpans(processors, resource, scope);
  }

  begin({ method, requestId, traceparent, tracestate, arrivedAt }: ArrivingRequest): RequestSpan {
    const parent: Context =
      traceparent === undefined
        ? ROOT_CONTEXT
        : this.propagator.extract(ROOT_CONTEXT, { traceparent, tracestate }, callerHeaders);
    const span = this.tracer.startSpan(
      method,
      { kind: SpanKind.SERVER, startTime: arrivedAt, attributes: { 'http.request.method': method } },
      parent,
    );
    const { traceId, spanId, traceFlags } = span.spanContext();
    const sampled = (traceFlags & TraceFlags.SAMPLED) !== 0;
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
        if (!sampled) return span.end();
        const attributes: Attributes = { 'http.response.status_code': status, 'http.request.id': requestId };
        if (route !== undefined) {
          attributes['http.route'] = route;
          span.updateName(`${method} ${route}`);
        }
        if (client !== undefined) attributes['order.client'] = client;
        if (orderId !== undefined) attributes['order.id'] = orderId;
        if (kind !== undefined && kind !== 'ok') attributes['error.type'] = kind;
        span.setAttributes(attributes);
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, ...(kind ? { message: kind } : {}) });
        span.end();
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

  /** Export every span ended so far, then stop. */
  async close(): Promise<void> {
    await this.provider.forceFlush();
    await this.provider.shutdown();
  }
}
