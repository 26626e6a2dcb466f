/**
 * The relay: delivers every event appended to the outbox to each enabled
 * endpoint of the event's client, at least once, while the process lives
 * (the in-memory mode). It runs on a thread of its own (relay-thread.ts),
 * off the order's path: the outbox's new events are handed to it, and an
 * order's answer never waits for a webhook, nor pays for one's CPU.
 *
 * - Per endpoint and order, one lane: an order's events go out one after
 *   the other, in the order they happened, each retried until it is
 *   delivered before the next is sent. Lanes of different orders overtake
 *   each other freely.
 * - At most CONCURRENCY attempts at once, whatever the backlog, shared
 *   between the clients by src/fairness/held-shares.ts: a client whose endpoint is slow
 *   or whose events flood holds at most its share, and another client's
 *   deliveries go out beside it. Lanes wait for their client's turn in a
 *   queue per client.
 * - A failure is tried again after `retryDelayMs` (backoff with jitter), the
 *   first always (`triedAgain`).
 *   Past the retry window: if the endpoint has not taken any delivery since
 *   this one began, it is disabled (`failing`, an error line and a metric);
 *   otherwise only this event is given up (an error line).
 * - `410 Gone` disables the endpoint at once; its queued deliveries go.
 * - Deliveries owed are bounded (`maxPending`), and shared between the
 *   clients by src/fairness/held-shares.ts too: a client whose endpoints fail, or whose
 *   events flood, fills at most its share, and beyond it its own new
 *   deliveries are dropped and counted (dropped-deliveries.ts), never
 *   another client's, nor the process's memory exhausted. GET /events still
 *   has them.
 */
import type { Deliveries, DeliveryFigures, DeliveryOptions, DeliveryOutcome } from './deliveries.js';
import type { EndpointBook, DisabledReason } from './webhook-endpoints.js';
import { eventJson, type StoredEvent } from './order-event.js';
import { tellAttempt } from './delivery-traces.js';
import { retryDelayMs, triedAgain } from './retry-schedule.js';
import { WebhookSender, type AttemptResult } from './webhook-sender.js';
import { HeldShares } from '../fairness/held-shares.js';
import { DroppedDeliveries } from './dropped-deliveries.js';

/** Attempts under way at once, at most: enough to keep many slow endpoints busy, few enough to cost little. */
const CONCURRENCY = 64;

interface Delivery {
  readonly event: StoredEvent;
  readonly endpointId: string;
  /** Attempts failed so far. */
  failures: number;
  /** When its first attempt was made; undefined before. */
  firstAttemptAt: number | undefined;
  timer: NodeJS.Timeout | undefined;
}

export class WebhookRelay implements Deliveries {
  /** Per endpoint and order, the deliveries in the order of their events. */
  private readonly lanes = new Map<string, Delivery[]>();
  /** Per client, lanes whose first delivery is due, in the order they came due. */
  private readonly ready = new Map<string, string[]>();
  private readonly shares: HeldShares;
  /** Each client's share of the deliveries owed (maxPending): what `pending` counts, by client. */
  private readonly owed: HeldShares;
  private readonly dropped: DroppedDeliveries;
  private running = 0;
  private pending = 0;
  /** When each endpoint last took a delivery. */
  private readonly lastDelivered = new Map<string, number>();
  private readonly attempts: Record<DeliveryOutcome, number> = { delivered: 0, failed: 0, gone: 0, dropped: 0 };
  private readonly disabled: Record<DisabledReason, number> = { gone: 0, failing: 0 };
  /** Events are taken in one after the other, so an order's events enter its lanes in their order. */
  private intake: Promise<void> = Promise.resolve();
  private readonly closing = new AbortController();
  private readonly idleWaiters: Array<() => void> = [];
  private readonly sender: WebhookSender;

  constructor(
    private readonly endpoints: EndpointBook,
    private readonly options: DeliveryOptions,
  ) {
    this.sender = new WebhookSender(options.allowPrivate);
    this.shares = new HeldShares(CONCURRENCY, options.clientWeights);
    this.owed = new HeldShares(options.maxPending, options.clientWeights);
    this.dropped = new DroppedDeliveries(options.log);
  }

  /** Deliver these events (just appended) to their clients' enabled endpoints. */
  take(events: readonly StoredEvent[]): void {
    if (this.closing.signal.aborted) return;
    this.intake = this.intake.then(async () => {
      for (const event of events) await this.enqueue(event);
      this.pump();
    });
  }

  /** Send one event again to every enabled endpoint of its client; how many deliveries were queued. */
  async redeliver(event: StoredEvent): Promise<number> {
    let queued = 0;
    const done = this.intake.then(async () => {
      queued = await this.enqueue(event);
      this.pump();
    });
    this.intake = done;
    await done;
    return queued;
  }

  async start(): Promise<void> {}

  async figures(): Promise<DeliveryFigures> {
    let oldest: number | undefined;
    for (const lane of this.lanes.values()) {
      const at = lane[0]!.event.at.getTime();
      if (oldest === undefined || at < oldest) oldest = at;
    }
    return {
      attempts: { ...this.attempts },
      disabled: { ...this.disabled },
      oldestUndeliveredAt: oldest === undefined ? undefined : new Date(oldest),
      pending: this.pending,
      droppedByClient: this.dropped.byClient(),
    };
  }

  /** Resolves once nothing waits and nothing is under way (tests, and the drain). */
  whenIdle(): Promise<void> {
    return this.intake.then(
      () =>
        new Promise<void>((resolve) => {
          if (this.pending === 0 && this.running === 0) resolve();
          else this.idleWaiters.push(resolve);
        }),
    );
  }

  /** Stop: attempts under way are aborted, what waits is dropped (in memory, it goes with the process). */
  async close(): Promise<void> {
    this.closing.abort();
    this.sender.close();
    for (const lane of this.lanes.values()) for (const delivery of lane) clearTimeout(delivery.timer);
    this.lanes.clear();
    this.ready.clear();
    this.pending = 0;
  }

  private async enqueue(event: StoredEvent): Promise<number> {
    const endpoints = (await this.endpoints.list(event.client)).filter((endpoint) => !endpoint.disabled);
    let refused = 0;
    for (const endpoint of endpoints) {
      if (!this.owed.tryTake(event.client)) {
        refused++;
        continue;
      }
      const key = `${endpoint.id}\u0000${event.client}\u0000${event.orderId}`;
      const delivery: Delivery = {
        event,
        endpointId: endpoint.id,
        failures: 0,
        firstAttemptAt: undefined,
        timer: undefined,
      };
      this.pending++;
      const lane = this.lanes.get(key);
      if (lane) lane.push(delivery);
      else {
        this.lanes.set(key, [delivery]);
        this.markReady(key);
      }
    }
    if (refused > 0) {
      this.attempts.dropped += refused;
      this.dropped.dropped(event.client, refused, this.owed.room(event.client));
    }
    return endpoints.length - refused;
  }

  private markReady(key: string): void {
    const client = clientOfLane(key);
    const queue = this.ready.get(client);
    if (queue) queue.push(key);
    else this.ready.set(client, [key]);
  }

  /** Start what the shares allow: the client whose turn it is first, each client's lanes in the order they came due. */
  private pump(): void {
    const waiting = new Set(this.ready.keys());
    while (this.running < CONCURRENCY && waiting.size > 0) {
      const client = this.shares.first(waiting)!;
      const queue = this.ready.get(client)!;
      const key = queue[0]!;
      const delivery = this.lanes.get(key)?.[0];
      if (delivery && !this.shares.tryTake(client)) {
        waiting.delete(client);
        continue;
      }
      queue.shift();
      if (queue.length === 0) {
        this.ready.delete(client);
        waiting.delete(client);
      }
      if (!delivery) continue;
      this.running++;
      void this.attempt(key, delivery).finally(() => {
        this.running--;
        this.shares.give(client);
        this.pump();
        this.wakeIfIdle();
      });
    }
  }

  private async attempt(key: string, delivery: Delivery): Promise<void> {
    const endpoint = await this.endpoints.get(delivery.endpointId);
    if (this.closing.signal.aborted) return;
    // Removed or disabled since it was queued: nothing more is sent to it.
    if (!endpoint || endpoint.disabled) return this.dropLanesOf(delivery.endpointId);
    delivery.firstAttemptAt ??= Date.now();
    const startedAt = performance.now();
    let result: AttemptResult;
    try {
      result = await this.sender.attempt({
        client: endpoint.client,
        url: endpoint.url,
        secret: endpoint.secret,
        eventId: delivery.event.id,
        body: JSON.stringify(eventJson(delivery.event, (kind) => this.options.statusByKind[kind])),
        timeoutMs: this.options.timeoutMs,
        signal: this.closing.signal,
      });
    } catch (error) {
      result = { outcome: 'failed', status: undefined, reason: (error as Error).message };
    }
    if (this.closing.signal.aborted) return;
    this.attempts[result.outcome]++;
    tellAttempt(
      this.options.recorder,
      { event: delivery.event, endpointId: endpoint.id, attempt: delivery.failures + 1, startedAt },
      result,
    );
    const about = { event_id: delivery.event.id, endpoint_id: endpoint.id, client: endpoint.client };
    switch (result.outcome) {
      case 'delivered':
        this.lastDelivered.set(endpoint.id, Date.now());
        return this.next(key);
      case 'gone':
        this.options.log.warn(about, 'webhook endpoint answered 410 Gone: disabled');
        await this.disable(endpoint.id, 'gone');
        return;
      case 'failed': {
        delivery.failures++;
        const waitMs = retryDelayMs(delivery.failures, this.options);
        const failingFor = Date.now() - delivery.firstAttemptAt;
        if (triedAgain(delivery.failures, failingFor, waitMs, this.options.retryWindowMs)) {
          this.options.log.debug(
            { ...about, attempts: delivery.failures, reason: result.reason, retry_in_ms: waitMs },
            'webhook delivery failed; trying again',
          );
          delivery.timer = setTimeout(() => {
            delivery.timer = undefined;
            this.markReady(key);
            this.pump();
          }, waitMs);
          delivery.timer.unref();
          return;
        }
        const tookAny = (this.lastDelivered.get(endpoint.id) ?? 0) > delivery.firstAttemptAt;
        if (tookAny) {
          this.options.log.error(
            { ...about, attempts: delivery.failures, reason: result.reason },
            'webhook delivery failed for the whole retry window: this event is given up (GET /events has it)',
          );
          return this.next(key);
        }
        this.options.log.error(
          { ...about, attempts: delivery.failures, reason: result.reason },
          'webhook endpoint failed every delivery for the whole retry window: disabled',
        );
        await this.disable(endpoint.id, 'failing');
        return;
      }
    }
  }

  /** The lane's first delivery is done with: the next one, if any, is due. */
  private next(key: string): void {
    const lane = this.lanes.get(key);
    if (!lane) return;
    lane.shift();
    this.pending--;
    this.owed.give(clientOfLane(key));
    if (lane.length === 0) this.lanes.delete(key);
    else this.markReady(key);
  }

  private async disable(endpointId: string, reason: DisabledReason): Promise<void> {
    if (await this.endpoints.disable(endpointId, reason)) this.disabled[reason]++;
    this.dropLanesOf(endpointId);
  }

  private dropLanesOf(endpointId: string): void {
    const prefix = `${endpointId}\u0000`;
    for (const [key, lane] of this.lanes) {
      if (!key.startsWith(prefix)) continue;
      for (const delivery of lane) clearTimeout(delivery.timer);
      this.pending -= lane.length;
      this.owed.give(clientOfLane(key), lane.length);
      this.lanes.delete(key);
    }
  }

  private wakeIfIdle(): void {
    if (this.pending !== 0 || this.running !== 0) return;
    for (const wake of this.idleWaiters.splice(0)) wake();
  }
}

/** The client a lane is of (its key: endpoint, client, order). */
function clientOfLane(key: string): string {
  return key.split('\u0000')[1]!;
}
