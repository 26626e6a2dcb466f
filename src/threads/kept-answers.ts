/**
 * A remote service's answers kept between a step's request and its settlement. A step's request travels twice: as its
 * thread's message, the moment it is sent, and as its settlement, once its task is over (the bits its cell recorded,
 * should the message be lost with the thread) — on different ports, in either order. The first of the two applies it
 * and keeps the answer here for the other, so the service is asked once per request: with a service across the network
 * (Postgres), one round trip per step less, and with books that count each request (the vendor's duplicates), no
 * request counted twice. Only a request whose application failed is applied again.
 *
 * Answers never claimed (a message lost with its thread) are dropped after a sweep period or two; an order's go when
 * its record goes (`forget`).
 */
import type { OrderKey } from '../domain/order.js';

/** Answers kept for settlements are swept this often: one unclaimed survives one to two periods. */
const ANSWERS_SWEEP_MS = 10_000;

/** An answer kept for the other of its request's message and settlement. */
interface Kept<A> {
  /** What was asked of the service (an operation, a step's effect): with the run, which request of the order. */
  readonly what: string;
  readonly run: number;
  answer: Promise<A>;
}
/**
 * Answers by order (its key), an order's go at once. Its few requests in a list, not a Map by a string of what and
 * run: a string made per request is hashed and interned at every look-up.
 */
type Answers<A> = Map<OrderKey, Kept<A>[]>;

export class KeptAnswers<A> {
  /** This period's answers, and the last's. */
  private answers: Answers<A> = new Map();
  private older: Answers<A> = new Map();
  private readonly sweep: NodeJS.Timeout;

  constructor() {
    this.sweep = setInterval(() => {
      this.older = this.answers;
      this.answers = new Map();
    }, ANSWERS_SWEEP_MS);
    this.sweep.unref();
  }

  /** A request's message arrived: applied now, its answer kept; undefined if its settlement came first and applied it. */
  received(order: OrderKey, what: string, run: number, apply: () => Promise<A>): Promise<A> | undefined {
    if (this.claim(order, what, run)) return undefined;
    const applied = apply();
    this.keep(order, what, run, applied);
    return applied;
  }

  /**
   * A request's settlement: the answer to its message if it arrived (and did not fail) — or, if it has not, the answer
   * to applying it now, kept for the message should it come later.
   */
  async settled(order: OrderKey, what: string, run: number, apply: () => Promise<A>): Promise<A> {
    const received = this.claim(order, what, run);
    if (received) {
      try {
        return await received;
      } catch {
        // Failed when it arrived: apply it again.
      }
    }
    const applied = apply();
    this.keep(order, what, run, applied);
    return applied;
  }

  /** The order's record is gone: so are its answers. */
  forget(order: OrderKey): void {
    this.answers.delete(order);
    this.older.delete(order);
  }

  /** Orders with answers not yet claimed. */
  orders(): OrderKey[] {
    return [...this.answers.keys(), ...this.older.keys()];
  }

  private keep(order: OrderKey, what: string, run: number, answer: Promise<A>): void {
    const ofOrder = this.answers.get(order);
    if (!ofOrder) return void this.answers.set(order, [{ what, run, answer }]);
    const kept = ofOrder.find((each) => each.what === what && each.run === run);
    if (kept) kept.answer = answer;
    else ofOrder.push({ what, run, answer });
  }

  /** The answer kept for the request, taken out; undefined if none. */
  private claim(order: OrderKey, what: string, run: number): Promise<A> | undefined {
    return claimFrom(this.answers, order, what, run) ?? claimFrom(this.older, order, what, run);
  }
}

function claimFrom<A>(answers: Answers<A>, order: OrderKey, what: string, run: number): Promise<A> | undefined {
  const ofOrder = answers.get(order);
  if (!ofOrder) return undefined;
  const at = ofOrder.findIndex((kept) => kept.what === what && kept.run === run);
  if (at < 0) return undefined;
  const { answer } = ofOrder[at]!;
  if (ofOrder.length === 1) answers.delete(order);
  else ofOrder.splice(at, 1);
  return answer;
}
