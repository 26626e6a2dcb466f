/**
 * Where final order outcomes are kept for replay: a small interface, so that
 * a store shared by several instances (Redis, a database) can replace the
 * in-memory one without the pipeline or the HTTP layer knowing. Async for
 * that reason, although the in-memory store never waits.
 */
import type { OrderResult } from '../pipeline/order-pipeline.js';

export interface RecordedOrder {
  /** What the order asked for, hashed: a retry must ask for the same. */
  readonly fingerprint: string;
  readonly result: OrderResult;
}

export interface IdempotencyStore {
  /** The outcome recorded for `orderId`, if it is still kept. */
  get(orderId: string): Promise<RecordedOrder | undefined>;
  put(orderId: string, record: RecordedOrder): Promise<void>;
  /** Records kept right now. */
  size(): number;
}
