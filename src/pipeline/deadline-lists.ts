/**
 * Deadlines of more than one span: a DeadlineList per span, since only
 * deadlines set the same span ahead come due in the order they were set.
 * For orders that ask for a deadline of their own (`deadline_ms`); every
 * other order's is ORDER_TIMEOUT_MS's one list. A list left empty goes once
 * lists of many spans have been made, so that spans asked for once each
 * hold nothing: the lists alive are at most as many as orders in flight.
 */
import { DeadlineList, type Deadlined } from './deadline-list.js';

/** Lists kept before the empty ones go. */
const PRUNE_AT = 64;

export class DeadlineLists<T extends Deadlined> {
  private readonly bySpan = new Map<number, DeadlineList<T>>();

  /** The list of deadlines `spanMs` ahead. */
  of(spanMs: number): DeadlineList<T> {
    let list = this.bySpan.get(spanMs);
    if (list) return list;
    if (this.bySpan.size >= PRUNE_AT)
      for (const [span, kept] of this.bySpan) if (kept.size === 0) this.bySpan.delete(span);
    list = new DeadlineList<T>();
    this.bySpan.set(spanMs, list);
    return list;
  }

  /** Lists kept now (for tests). */
  get lists(): number {
    return this.bySpan.size;
  }
}
