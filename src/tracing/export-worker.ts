/**
 * The export thread's code: the SDK's batch processor and OTLP exporter,
 * fed the main thread's finished spans as plain records (span-records.ts).
 * Encoding the protobuf (or JSON) and posting it is the costliest thing an
 * exporter does per span; here it is off the thread that serves requests.
 * A side thread (src/side-threads/): it is posted batches of records, each
 * answered `took`; closed, it answers once every span received has been
 * exported.
 */
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace';
import { sideThreadPort } from '../side-threads/side-thread-port.js';
import { readableSpanOf, recordAt, spansIn, type FlatSpans } from './span-records.js';

export interface ExportWorkerData {
  readonly tracesUrl: string;
  readonly protocol: 'http/protobuf' | 'http/json';
  readonly serviceName: string;
  readonly serviceVersion: string;
  /** The main thread's performance.timeOrigin: its span times are relative to it. */
  readonly timeOrigin: number;
}

export interface SpansHandedOver {
  readonly spans: FlatSpans;
}

/**
 * Spans waiting to leave, at most: an order makes about ten, so a few seconds of a busy instance's orders; beyond it
 * the processor drops spans rather than grow without bound.
 */
const MAX_QUEUED_SPANS = 65_536;
const EXPORT_BATCH_SPANS = 2048;
/** How often a batch leaves when none fills up. */
const EXPORT_EVERY_MS = 1000;

const thread = sideThreadPort<ExportWorkerData>();
const { data } = thread;
const exporter =
  data.protocol === 'http/json'
    ? new JsonExporter({ url: data.tracesUrl })
    : new ProtobufExporter({ url: data.tracesUrl });
const resource = defaultResource().merge(
  resourceFromAttributes({ 'service.name': data.serviceName, 'service.version': data.serviceVersion }),
);
const scope = { name: 'order-threads', version: data.serviceVersion };
const processor = new BatchSpanProcessor({
  exporter,
  maxQueueSize: MAX_QUEUED_SPANS,
  maxExportBatchSize: EXPORT_BATCH_SPANS,
  scheduledDelayMillis: EXPORT_EVERY_MS,
});

thread.serve({
  onPost: (message) => {
    const { spans } = message as SpansHandedOver;
    for (let i = 0; i < spansIn(spans); i++)
      processor.onEnd(readableSpanOf(recordAt(spans, i), resource, scope, data.timeOrigin));
    thread.post('took');
  },
  onClose: () => processor.forceFlush().then(() => processor.shutdown()),
});
