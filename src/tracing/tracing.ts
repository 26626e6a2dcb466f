/**
 * Tracing for the composition root to wire: the request tracing the HTTP
 * layer begins each request with, the step recorder the runner tells of each
 * step, the observer of the durable store's statements, and what the drain
 * closes last. With no endpoint (or OTEL_SDK_DISABLED=true) it is trace ids
 * alone, with no recorder and no observer — nothing of the SDK is loaded, so
 * the cost is a trace id per request (trace-ids.ts). The events are told the
 * trace of an order being recorded, and tell of each webhook delivery attempt.
 */
import type { TracingConfig } from '../config.js';
import type { RecentTrace, RequestTracing, StatementObserver } from '../domain/trace.js';
import type { StepRecorder } from '../pipeline/steps.js';
import type { DeliveryRecorder, OrderTraceOf } from '../events/delivery-traces.js';
import { traceIdsOnly } from './trace-ids.js';
import { compiledModule } from '../paths.js';

export interface Tracing {
  readonly requests: RequestTracing;
  /** Absent: no step is timed, no span made. */
  readonly steps?: StepRecorder;
  readonly statements?: StatementObserver;
  /** The trace of an order being recorded, for its events; and their delivery attempts, as spans linked to it. */
  readonly orderTraceOf?: OrderTraceOf;
  readonly deliveries?: DeliveryRecorder;
  /** The last order's trace, for the live page. */
  readonly recent?: RecentTrace;
  /** Export every span ended so far (the drain's last act). */
  close(): Promise<void>;
}

export async function createTracing(config: TracingConfig | undefined): Promise<Tracing> {
  if (!config) return { requests: traceIdsOnly, close: async () => {} };
  const [{ OtelTracing }, { RecentTraces }] = await Promise.all([
    import('./otel-tracing.js'),
    import('./recent-traces.js'),
  ]);
  const recent = new RecentTraces();
  const tracing = new OtelTracing(config, recent, compiledModule('src/tracing/export-worker'));
  return {
    requests: tracing,
    steps: tracing,
    statements: tracing.statementDone,
    orderTraceOf: tracing.orderTraceOf,
    deliveries: tracing,
    recent: () => recent.recent(),
    close: () => tracing.close(),
  };
}
