/**
 * Tracing for the composition root to wire: the request tracing the HTTP
 * layer begins each request with, the step recorder the runner tells of each
 * step, the observer of the durable store's statements, and what the drain
 * closes last. With no endpoint (or OTEL_SDK_DISABLED=true) it is trace ids
 * alone, with no recorder and no observer — nothing of the SDK is loaded, so
 * the cost is a trace id per request (trace-ids.ts).
 */
import type { TracingConfig } from '../config.js';
import type { RequestTracing, StatementObserver } from '../domain/trace.js';
import type { StepRecorder } from '../pipeline/steps.js';
import { traceIdsOnly } from './trace-ids.js';

export interface Tracing {
  readonly requests: RequestTracing;
  /** Absent: no step is timed, no span made. */
  readonly steps?: StepRecorder;
  readonly statements?: StatementObserver;
  /** Export every span ended so far (the drain's last act). */
  close(): Promise<void>;
}

export async function createTracing(config: TracingConfig | undefined): Promise<Tracing> {
  if (!config) return { requests: traceIdsOnly, close: async () => {} };
  const { OtelTracing } = await import('./otel-tracing.js');
  const tracing = new OtelTracing(config);
  return { requests: tracing, steps: tracing, statements: tracing.statementDone, close: () => tracing.close() };
}
