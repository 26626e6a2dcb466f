/**
 * The outbox in this process's memory: events are kept, and delivered, only
 * while the process lives — a process that dies takes its undelivered
 * events along, as it takes its order records (docs/durability.md). Bounded
 * by count (EVENTS_MAX): past it the oldest event goes, so the feed of a
 * client that fell that far behind starts at the oldest kept; its delivery,
 * if still under way, goes on (the relay holds what it delivers).
 *
 * Appending is synchronous and costs the order path a few array pushes: the
 * relay is told afterwards, in its own turn. The events are kept oldest first
 * in one array, not in a Map by id: once EVENTS_MAX were kept, taking a Map's
 * oldest entry walked every entry deleted since its last rehash, and each
 * append cost 7–14 µs instead of 1.8 (docs/measurements/2026-11-25-ids-and-prototypes.md).
 * Finding one by id (the admin's redelivery) walks them instead.
 */
import { frontWorthCompacting } from '../queue-compaction.js';
import { randomHex } from '../random-ids.js';
import type { EventLog } from './event-log.js';
import type { NewEvent, StoredEvent } from './order-event.js';

/** A client's events, oldest first; the first `head` are gone (dropped in bulk, not one shift each). */
interface ClientEvents {
  events: StoredEvent[];
  head: number;
}

export class MemoryEventLog implements EventLog {
  /** Every kept event, oldest first; the first `keptHead` are gone (dropped in bulk, as a client's are). */
  private kept: StoredEvent[] = [];
  private keptHead = 0;
  private readonly byClient = new Map<string, ClientEvents>();
  private readonly listeners: Array<(events: readonly StoredEvent[]) => void> = [];
  private seq = 0;

  constructor(
    private readonly max: number,
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
      this.kept.push(event);
      let mine = this.byClient.get(event.client);
      if (!mine) this.byClient.set(event.client, (mine = { events: [], head: 0 }));
      mine.events.push(event);
    }
    while (this.size > this.max) this.dropOldest();
    for (const listener of this.listeners) listener(stored);
    return stored;
  }

  async page(client: string, after: readonly number[], limit: number): Promise<StoredEvent[]> {
    const afterSeq = after[0] ?? 0;
    const mine = this.byClient.get(client);
    if (!mine) return [];
    const { events } = mine;
    // The first kept event after the cursor: seq grows along the array.
    let low = mine.head;
    let high = events.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (events[middle]!.seq <= afterSeq) low = middle + 1;
      else high = middle;
    }
    return events.slice(low, low + limit);
  }

  async get(id: string): Promise<StoredEvent | undefined> {
    // Newest first: a redelivery is most often asked of a recent event.
    for (let i = this.kept.length - 1; i >= this.keptHead; i--) if (this.kept[i]!.id === id) return this.kept[i];
    return undefined;
  }

  onAppended(listener: (events: readonly StoredEvent[]) => void): void {
    this.listeners.push(listener);
  }

  get size(): number {
    return this.kept.length - this.keptHead;
  }

  private dropOldest(): void {
    const oldest = this.kept[this.keptHead++]!;
    if (frontWorthCompacting(this.keptHead, this.kept.length)) {
      this.kept = this.kept.slice(this.keptHead);
      this.keptHead = 0;
    }
    const mine = this.byClient.get(oldest.client)!;
    mine.head++;
    if (mine.head === mine.events.length) this.byClient.delete(oldest.client);
    else if (frontWorthCompacting(mine.head, mine.events.length)) {
      mine.events = mine.events.slice(mine.head);
      mine.head = 0;
    }
  }
}

/** An event's id: its delivery's idempotency key (`webhook-id`). */
export function newEventId(): string {
  return `evt_${randomHex(16)}`;
}
