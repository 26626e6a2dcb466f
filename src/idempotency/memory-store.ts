/**
 * The in-memory idempotency store: at most `maxEntries` records, each kept
 * `ttlMs`; when full, the oldest goes first. A Map keeps insertion order, and
 * records are inserted when their orders end, so the oldest — and the first
 * to expire — are always at its front.
 */
import type { IdempotencyStore, RecordedOrder } from './idempotency-store.js';

interface Kept {
  readonly record: RecordedOrder;
  readonly expiresAt: number;
}

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly records = new Map<string, Kept>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  async get(orderId: string): Promise<RecordedOrder | undefined> {
    const kept = this.records.get(orderId);
    if (!kept) return undefined;
    if (kept.expiresAt <= this.now()) {
      this.records.delete(orderId);
      return undefined;
    }
    return kept.record;
  }

  async put(orderId: string, record: RecordedOrder): Promise<void> {
    if (this.maxEntries === 0 || this.ttlMs === 0) return;
    this.records.delete(orderId);
    this.records.set(orderId, { record, expiresAt: this.now() + this.ttlMs });
    this.dropExpired();
    for (const oldest of this.records.keys()) {
      if (this.records.size <= this.maxEntries) break;
      this.records.delete(oldest);
    }
  }

  size(): number {
    return this.records.size;
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [orderId, kept] of this.records) {
      if (kept.expiresAt > now) break;
      this.records.delete(orderId);
    }
  }
}
