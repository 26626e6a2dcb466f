/** Waiters by ticket, the oldest first: what one read of the courier line (waiter-line.ts) serves each client from. */

/** Whether ticket a came before ticket b; tickets wrap around in 32 bits. */
export const before = (a: number, b: number): boolean => ((a - b) | 0) < 0;

/**
 * Candidates by ticket, the oldest on top: made a heap in O(n) once read, so that the few turns a read usually serves
 * cost a few log n each, not a sort of the whole line. Its storage only grows: emptied, an array given `length = 0`
 * drops its backing store, and refilling it made a read's garbage (a step thread collected its young generation three
 * times as often under `wide`).
 */
export class TicketHeap {
  private items = new Int32Array(16);
  size = 0;

  constructor(private readonly tickets: Int32Array) {}

  push(candidate: number): void {
    if (this.size === this.items.length) {
      const grown = new Int32Array(this.items.length * 2);
      grown.set(this.items);
      this.items = grown;
    }
    this.items[this.size++] = candidate;
  }

  /** The oldest candidate; the heap is not empty. */
  top(): number {
    return this.items[0]!;
  }

  heapify(): void {
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.down(i);
  }

  pop(): void {
    this.size--;
    if (this.size === 0) return;
    this.items[0] = this.items[this.size]!;
    this.down(0);
  }

  private down(at: number): void {
    const { items, tickets, size } = this;
    const item = items[at]!;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= size) break;
      if (child + 1 < size && before(tickets[items[child + 1]!]!, tickets[items[child]!]!)) child++;
      if (!before(tickets[items[child]!]!, tickets[item]!)) break;
      items[at] = items[child]!;
      at = child;
    }
    items[at] = item;
  }
}
