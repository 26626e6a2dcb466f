/**
 * The outbox in this process's memory: events are kept, and delivered, only
 * while the process lives — a process that dies takes its undelivered
 * events along, as it takes its order records (docs/outbox.md). Bounded
 * by count (EVENTS_MAX), shared between the clients: past it, an
 * event goes from the client keeping the most per unit of its weight
 * (src/fairness/fair-share.ts's turn order, backwards) — its oldest. So a
 * client whose events flood loses its own history, never another's: a
 * client keeping no more than its weight's part of EVENTS_MAX keeps all of
 * it; dropping the oldest event of anyone would let one client's flood
 * empty every other client's feed. What a client lost is
 * remembered (the newest position gone), so a feed resumed from behind it
 * says so (client-events.ts) instead of skipping it. A delivery still under
 * way goes on (the relay holds what it delivers).
 *
 * Appending is synchronous and costs the order path a few array pushes: the
 * relay is told afterwards, in its own turn. A client's events are kept
 * oldest first in an array, dropped in bulk from its front, not in a Map by
 * id: once EVENTS_MAX were kept, taking a Map's oldest entry walked every
 * entry deleted since its last rehash, at every append. Finding one by
 * id (the admin's redelivery) walks them instead.
 */
import { frontWorthCompacting } from '../queue-compaction.js';
import { randomHex } from '../random-ids.js';
import { NEWCOMER_WEIGHT, turnOrder } from '../fairness/fair-share.js';
import type { EventLog, FeedPage } from './event-log.js';
import type { NewEvent, StoredEvent } from './order-event.js';

/**
 * A client's events, oldest first; the first `head` are gone (cut off in bulk, not one shift each), each slot let go
 * as its event is dropped: held until the cut, up to EVENTS_MAX dropped events were kept, and marked by every
 * collection of the old heap.
 */
interface ClientEvents {
  events: Array<StoredEvent | undefined>;
  head: number;
  /** The seq of the newest of its events that went to make room; 0 while none has. */
  lostThrough: number;
}

export class MemoryEventLog implements EventLog {
  private readonly byClient = new Map<string, ClientEvents>();
  private readonly listeners: Array<(events: readonly StoredEvent[]) => void> = [];
  private seq = 0;
  private kept = 0;

  constructor(
    private readonly max: number,
    /** CLIENT_WEIGHTS: a client's part of EVENTS_MAX grows with it; a client not named weighs 1. */
    private readonly weights: ReadonlyMap<string, number> = new Map(),
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Keep `events`, in their order; told to the listeners at once. */
  append(events: readonly NewEvent[]): StoredEvent[] {
    if (events.length === 0) return [];
    const at = this.now();
    const stored = events.map((event): StoredEvent => {
      const seq = ++this.seq;
      // Every field named, not spread: an object spread from another keeps its properties out of line, in an array of
      // their own, and each event is kept until EVENTS_MAX later ones.
      const { type, client, orderId, run, kind, money, trace } = event;
      return { type, client, orderId, run, kind, money, trace, id: newEventId(), seq, position: [seq], at };
    });
    for (const event of stored) {
      let mine = this.byClient.get(event.client);
      if (!mine) this.byClient.set(event.client, (mine = { events: [], head: 0, lostThrough: 0 }));
      mine.events.push(event);
      this.kept++;
    }
    while (this.kept > this.max) this.dropOldestOfFullest();
    for (const listener of this.listeners) listener(stored);
    return stored;
  }

  async page(client: string, after: readonly number[], limit: number): Promise<FeedPage> {
    const afterSeq = after[0] ?? 0;
    const mine = this.byClient.get(client);
    if (!mine) return { events: [] };
    const { events } = mine;
    // Asked from behind what it lost (not from the start: that asks for whatever is kept).
    const gap = after.length > 0 && afterSeq < mine.lostThrough;
    // The first kept event after the cursor: seq grows along the array.
    let low = mine.head;
    let high = events.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (events[middle]!.seq <= afterSeq) low = middle + 1;
      else high = middle;
    }
    return gap ? { events: [], gap: true } : { events: events.slice(low, low + limit) as StoredEvent[] };
  }

  async ofOrder(client: string, orderId: string): Promise<StoredEvent[]> {
    const mine = this.byClient.get(client);
    return mine ? (mine.events.slice(mine.head) as StoredEvent[]).filter((event) => event.orderId === orderId) : [];
  }

  async get(id: string): Promise<StoredEvent | undefined> {
    for (const { events, head } of this.byClient.values())
      // Newest first: a redelivery is most often asked of a recent event.
      for (let i = events.length - 1; i >= head; i--) if (events[i]!.id === id) return events[i];
    return undefined;
  }

  onAppended(listener: (events: readonly StoredEvent[]) => void): void {
    this.listeners.push(listener);
  }

  get size(): number {
    return this.kept;
  }

  /** Room for one more: the oldest event of the client keeping the most per unit of its weight (the oldest, on a tie). */
  private dropOldestOfFullest(): void {
    let fullest: [string, ClientEvents] | undefined;
    for (const entry of this.byClient) {
      const [client, mine] = entry;
      if (mine.head === mine.events.length) continue;
      if (fullest === undefined) {
        fullest = entry;
        continue;
      }
      const order = turnOrder(
        mine.events.length - mine.head,
        this.weightOf(client),
        fullest[1].events.length - fullest[1].head,
        this.weightOf(fullest[0]),
      );
      if (order > 0 || (order === 0 && mine.events[mine.head]!.seq < fullest[1].events[fullest[1].head]!.seq))
        fullest = entry;
    }
    const mine = fullest![1];
    // Kept while empty: what it lost is still to be told to its feed.
    mine.lostThrough = mine.events[mine.head]!.seq;
    mine.events[mine.head++] = undefined;
    this.kept--;
    if (mine.head === mine.events.length) {
      mine.events = [];
      mine.head = 0;
    } else if (frontWorthCompacting(mine.head, mine.events.length)) {
      mine.events = mine.events.slice(mine.head);
      mine.head = 0;
    }
  }

  private weightOf(client: string): number {
    return this.weights.get(client) ?? NEWCOMER_WEIGHT;
  }
}

/** An event's id: its delivery's idempotency key (`webhook-id`). */
export function newEventId(): string {
  return `evt_${randomHex(16)}`;
}
