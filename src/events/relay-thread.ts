/**
 * The in-memory mode's deliveries as the main thread holds them: the relay
 * runs on a thread of its own (relay-worker.ts, through delivery-thread.ts),
 * so that a delivery's send, signature and JSON — about 180 µs of CPU each,
 * measured on the order path's thread before — never take the thread that
 * serves orders. What the main thread pays per order is one hand-over of
 * its events, batched with whatever else was appended in the same turn.
 *
 * The endpoint book stays here (the HTTP layer's); the relay's thread keeps
 * a mirror, told of every change in order, and an endpoint it disables is
 * disabled here too. Events are kept, and delivered, only while the process
 * lives, as before: a relay thread that dies loses what it held (it is
 * started again, with the book).
 */
import type { Deliveries, DeliveryFigures, DeliveryOptions } from './deliveries.js';
import { DeliveryThread } from './delivery-thread.js';
import type { EventLog } from './event-log.js';
import type { StoredEvent } from './order-event.js';
import type { RelayDisabled, RelayRequest, RelayWorkerData, ToRelayWorker } from './relay-worker.js';
import type { MemoryEndpointBook } from './webhook-endpoints.js';

const NO_FIGURES: DeliveryFigures = {
  attempts: { delivered: 0, failed: 0, gone: 0, dropped: 0 },
  disabled: { gone: 0, failing: 0 },
  oldestUndeliveredAt: undefined,
  pending: 0,
};

export class RelayThread implements Deliveries {
  private readonly thread: DeliveryThread<RelayWorkerData>;
  /** Events appended this turn, handed over together. */
  private appended: StoredEvent[] = [];
  private handOver: NodeJS.Immediate | undefined;
  /** Figures last read: what /metrics shows while the thread is being started again. */
  private lastFigures = NO_FIGURES;

  constructor(outbox: EventLog, endpoints: MemoryEndpointBook, options: DeliveryOptions, workerFile: URL) {
    const { log, recorder, ...data } = options;
    this.thread = new DeliveryThread({
      workerFile,
      name: 'webhook-relay',
      data,
      log,
      recorder,
      onSpawn: (post) => post({ changes: endpoints.snapshot() } satisfies ToRelayWorker),
      onPost: (message) => {
        const { disable, reason } = message as RelayDisabled;
        void endpoints.disable(disable, reason);
      },
    });
    endpoints.onChange((change) => {
      // Events appended before the change are handed over before it: the thread sees both in the order they came.
      this.handOverNow();
      this.thread.post({ changes: [change] } satisfies ToRelayWorker);
    });
    outbox.onAppended((events) => {
      this.appended.push(...events);
      this.handOver ??= setImmediate(() => this.handOverNow());
    });
  }

  start(): Promise<void> {
    return this.thread.start();
  }

  redeliver(event: StoredEvent): Promise<number> {
    this.handOverNow();
    return this.thread.request<number>({ redeliver: event } satisfies RelayRequest);
  }

  async figures(): Promise<DeliveryFigures> {
    this.lastFigures = await this.thread
      .request<DeliveryFigures>({ figures: true } satisfies RelayRequest)
      .catch(() => this.lastFigures);
    return this.lastFigures;
  }

  async close(): Promise<void> {
    if (this.handOver) clearImmediate(this.handOver);
    this.handOver = undefined;
    await this.thread.close();
  }

  private handOverNow(): void {
    if (this.handOver) clearImmediate(this.handOver);
    this.handOver = undefined;
    if (this.appended.length === 0) return;
    const events = this.appended;
    this.appended = [];
    this.thread.post({ events } satisfies ToRelayWorker);
  }
}
