/**
 * What the deliveries counted — attempts by outcome, endpoints disabled by
 * reason — in an Int32Array that may live in a SharedArrayBuffer: the
 * delivery thread counts (Atomics.add) and the main thread reads them when
 * Prometheus scrapes (Atomics.load), with no message between the two.
 */
import type { DeliveryOutcome } from './deliveries.js';
import type { DisabledReason } from './webhook-endpoints.js';

const OUTCOMES: readonly DeliveryOutcome[] = ['delivered', 'failed', 'gone', 'dropped'];
const REASONS: readonly DisabledReason[] = ['gone', 'failing'];

/** The buffer's size, in bytes, for `new SharedArrayBuffer(DELIVERY_COUNTS_BYTES)`. */
export const DELIVERY_COUNTS_BYTES = (OUTCOMES.length + REASONS.length) * Int32Array.BYTES_PER_ELEMENT;

export class DeliveryCounts {
  private readonly cells: Int32Array;

  constructor(buffer: ArrayBufferLike = new ArrayBuffer(DELIVERY_COUNTS_BYTES)) {
    this.cells = new Int32Array(buffer);
  }

  attempted(outcome: DeliveryOutcome, count = 1): void {
    Atomics.add(this.cells, OUTCOMES.indexOf(outcome), count);
  }

  disabled(reason: DisabledReason): void {
    Atomics.add(this.cells, OUTCOMES.length + REASONS.indexOf(reason), 1);
  }

  attempts(): Record<DeliveryOutcome, number> {
    return Object.fromEntries(OUTCOMES.map((outcome, i) => [outcome, Atomics.load(this.cells, i)])) as Record<
      DeliveryOutcome,
      number
    >;
  }

  disabledByReason(): Record<DisabledReason, number> {
    return Object.fromEntries(
      REASONS.map((reason, i) => [reason, Atomics.load(this.cells, OUTCOMES.length + i)]),
    ) as Record<DisabledReason, number>;
  }
}
