/**
 * Arrays used as queues — the outbox's events, each client's, the order
 * records' expiry times — drop their front by moving a head, not by
 * `shift()` (a copy of the whole rest each time), and are cut down to what
 * is left in bulk: once more than a thousand entries are dropped and they
 * are over half the array, so that each entry is copied at most once more
 * on average and the dropped ones are not held for long.
 */
const FEWEST_DROPPED = 1024;

/** Whether an array whose first `head` of `length` entries are dropped is due to be cut down to the rest. */
export const frontWorthCompacting = (head: number, length: number): boolean =>
  head > FEWEST_DROPPED && head * 2 > length;
