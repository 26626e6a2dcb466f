/**
 * The main thread's side of the export thread (export-worker.ts): finished
 * spans are gathered as plain records and handed over in batches — one
 * structured clone per batch instead of the SDK's span objects, its queue
 * and the OTLP encoding on the thread that serves requests
 * (docs/decisions/side-threads.md). A side thread (src/side-threads/) that
 * is not started again if it dies.
 */
import type { TracingConfig } from '../config.js';
import { SideThread } from '../side-threads/side-thread.js';
import { pushRecord, spansIn, type FlatSpans, type SpanRecord } from './span-records.js';
import type { ExportWorkerData, SpansHandedOver } from './export-worker.js';

/** Spans handed over at once, at most; a batch not full leaves after HAND_OVER_MS. */
const HAND_OVER_SPANS = 512;
const HAND_OVER_MS = 100;
/**
 * Batches handed over and not yet taken in, at most: an export thread that
 * falls behind (a stalled collector is the exporter's problem, but a thread
 * starved of CPU is not) must not grow the main thread's heap without bound —
 * past this, a batch is dropped, as the SDK's own queue drops spans when full.
 */
const BATCHES_UNTAKEN_MAX = 64;

export class ExportThread {
  private readonly thread: SideThread<ExportWorkerData>;
  private batch: FlatSpans = [];
  private timer: NodeJS.Timeout | undefined;
  private batchesUntaken = 0;

  constructor(config: TracingConfig, serviceVersion: string, workerFile: URL) {
    this.thread = new SideThread({
      workerFile,
      name: 'otlp-export',
      data: {
        tracesUrl: config.tracesUrl,
        protocol: config.protocol,
        serviceName: config.serviceName,
        serviceVersion,
        timeOrigin: performance.timeOrigin,
      },
      // Tracing never takes the service down: a dead export thread loses its spans, nothing else.
      restart: false,
      onPost: () => this.batchesUntaken--,
    });
    // Spans are handed over from the first: the thread takes them in once it runs.
    this.thread.start().catch(() => {});
  }

  add(record: SpanRecord): void {
    pushRecord(this.batch, record);
    if (spansIn(this.batch) >= HAND_OVER_SPANS) this.handOver();
    else this.timer ??= setTimeout(() => this.handOver(), HAND_OVER_MS).unref();
  }

  private handOver(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.batch.length === 0) return;
    const message: SpansHandedOver = { spans: this.batch };
    this.batch = [];
    if (this.batchesUntaken >= BATCHES_UNTAKEN_MAX) return;
    this.batchesUntaken++;
    this.thread.post(message);
  }

  /** Hands over what is left, waits for the export thread to export it all, and ends it. */
  async close(): Promise<void> {
    this.handOver();
    await this.thread.close();
  }
}
