/**
 * What the service keeps of each order, by order_id: what it asked for (a
 * fingerprint), how many times it has run, whether a run is under way, and
 * the latest run's answer — replayed to a retry when it is final. A small
 * interface, so that a store shared by several instances (Postgres) can
 * replace the in-memory one without the pipeline or the HTTP layer knowing.
 * Async for that reason, although the in-memory store never waits.
 */
import type { OrderFailureKind } from '../domain/errors.js';
import type { OrderResult } from '../pipeline/order-pipeline.js';

/** How a run ended: 'ok', or the kind it failed with. */
export type OutcomeKind = OrderFailureKind | 'ok';

export interface RecordedOutcome {
  readonly kind: OutcomeKind;
  /** Present when the outcome is final: the answer a retry gets again, without anything running. */
  readonly replay: OrderResult | undefined;
}

export interface OrderRecord {
  readonly orderId: string;
  /** What the order asked for, hashed: a retry must ask for the same. */
  readonly fingerprint: string;
  /** Runs started so far; the latest is run number `runs`. */
  readonly runs: number;
  readonly state: 'running' | 'done';
  /** The latest run's answer; undefined while it runs. */
  readonly outcome: RecordedOutcome | undefined;
}

export type Begun =
  /** A new run of the order starts, with this number. */
  | { readonly kind: 'started'; readonly run: number }
  /** Its final outcome is on record: replay it. */
  | { readonly kind: 'replay'; readonly result: OrderResult }
  /** The order_id belongs to a different order. */
  | { readonly kind: 'reused' };

export interface OrderRecords {
  /** The record of `orderId`, if it is still kept. */
  get(orderId: string): Promise<OrderRecord | undefined>;
  /** Start a new run of the order — unless a final outcome is on record, or the id is another order's. */
  begin(orderId: string, fingerprint: string): Promise<Begun>;
  /** The run has ended with `outcome`. */
  finish(orderId: string, run: number, outcome: RecordedOutcome): Promise<void>;
  /** Records kept right now. */
  size(): number;
}
