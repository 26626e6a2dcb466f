/**
 * A cancel of an order (POST /orders/{order_id}/cancel): marked in the
 * records — the one place a cancel and the order's own end are ordered
 * (src/orders/order-records.ts, `requestCancel`) — then the run stopped
 * where it runs, and waited for. A run here is stopped by its desk at once;
 * on another instance, by that instance, told through the store.
 */
import type { OrderKey } from '../domain/order.js';
import type { CancelRequester, OrderRecords, OutcomeKind } from './order-records.js';

/** What became of a cancel: told by the records, or waited for until the run ended (or the wait gave up). */
export type CancelOutcome =
  /** No record of the order. */
  | { readonly kind: 'unknown' }
  /** The records could not be reached: nothing was marked. */
  | { readonly kind: 'unavailable' }
  /** It had ended before the cancel (with `outcome`): nothing was canceled, unless it had ended canceled. */
  | { readonly kind: 'ended'; readonly outcome: OutcomeKind }
  /** Marked, and its run has ended since: canceled, unless it failed on its own first. */
  | { readonly kind: 'canceled'; readonly outcome: OutcomeKind }
  /** Marked; its run was still winding down when the wait ended. */
  | { readonly kind: 'canceling' };

/**
 * Mark the order's run canceled `by` whom, stop it if it runs here (`stopHere`), and wait up to `waitMs` for it to end.
 * Never rejects.
 */
export async function cancelOrder(
  records: Pick<OrderRecords, 'requestCancel' | 'awaitRun'>,
  key: OrderKey,
  by: CancelRequester,
  waitMs: number,
  stopHere: (key: OrderKey) => void,
): Promise<CancelOutcome> {
  let mark;
  try {
    mark = await records.requestCancel(key, by);
  } catch {
    return { kind: 'unavailable' };
  }
  if (!mark) return { kind: 'unknown' };
  if (mark.kind === 'ended') return { kind: 'ended', outcome: mark.outcome };
  stopHere(key);
  try {
    const ended = await records.awaitRun(key, mark.run, AbortSignal.timeout(waitMs));
    return { kind: 'canceled', outcome: ended.kind };
  } catch {
    return { kind: 'canceling' };
  }
}
