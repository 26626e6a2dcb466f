/**
 * The in-memory mode's deliveries as the main thread holds them: the relay
 * runs on a thread of its own (relay-worker.ts, through delivery-thread.ts),
 * so that a delivery's send, signature and JSON never take the thread that
 * serves orders (docs/decisions/side-threads.md). What the main thread pays per order is one hand-over of
 * its events, batched with whatever else was appended in the same turn.
 *
 * The endpoint book stays here (the HTTP layer's); the relay's thread keeps
 * a mirror, told of every change in order, and an endpoint it disables is
 * disabled here too. Events are kept, and delivered, only while the process
 * lives, as before: a relay thread that dies loses what it held (it is
 * started again, with the book).
 *
 * The thread starts with the first endpoint, not with the service: until
 * then no event has anywhere to go (the relay matches an event to the
 * endpoints there are when it is appended), and a thread waiting for none
 * would cost every start its isolate, pino and node:http, and every order a
 * hand-over for nothing.
 */
import type { Logger } from 'pino';
import type { Deliveries, DeliveryFigures, DeliveryOptions } from './deliveries.js';
import { deliveryThread, type DeliveryThread } from './delivery-thread.js';
import type { EventLog } from './event-log.js';
import type { StoredEvent } from './order-event.js';
import type { RelayDisabled, RelayRequest, RelayWorkerData, ToRelayWorker } from './relay-worker.js';
import type { MemoryEndpointBook } from './webhook-endpoints.js';

const NO_FIGURES: DeliveryFigures = {
  attempts: { delivered: 0, failed: 0, gone: 0, dropped: 0 },
  disabled: { gone: 0, failing: 0 },
  oldestUndeliveredAt: undefined,
  pending: 0,
  droppedByClient: {},
};

export class RelayThread implements Deliveries {
  private readonly thread: DeliveryThread<RelayWorkerData>;
  /** Events appended this turn, handed over together. */
  private appended: StoredEvent[] = [];
  private handOver: NodeJS.Immediate | undefined;
  /** Figures last read: what /metrics shows while the thread is being started again. */
  private lastFigures = NO_FIGURES;
  /** Whether the thread was started: once the book has had an endpoint. */
  private started = false;
  private readonly log: Logger;

  constructor(outbox: EventLog, endpoints: MemoryEndpointBook, options: DeliveryOptions, workerFile: URL) {
    const { log, recorder, ...data } = options;
    this.log = log;
    this.thread = deliveryThread({
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
      // The new thread is told the whole book as it spawns, this change with it.
      if (!this.started) return this.startThread();
      // Events appended before the change are handed over before it: the thread sees both in the order they came.
      this.handOverNow();
      this.thread.post({ changes: [change] } satisfies ToRelayWorker);
    });
    outbox.onAppended((events) => {
      // Before the first endpoint, an event has no endpoint to go to: the thread would drop it.
      if (!this.started) return;
      this.appended.push(...events);
      this.handOver ??= setImmediate(() => this.handOverNow());
    });
  }

  /** The thread starts with the first endpoint (see above). */
  async start(): Promise<void> {}

  private startThread(): void {
    this.started = true;
    // A thread that cannot start is started again, as one that died (src/side-threads/side-thread.ts).
    this.thread.start().catch((error: unknown) => this.log.error({ err: error }, 'the webhook relay did not start'));
  }

  redeliver(event: StoredEvent): Promise<number> {
    // No endpoint has ever been added: none to send it to.
    if (!this.started) return Promise.resolve(0);
    this.handOverNow();
    return this.thread.request<number>({ redeliver: event } satisfies RelayRequest);
  }

  async figures(): Promise<DeliveryFigures> {
    if (!this.started) return this.lastFigures;
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
