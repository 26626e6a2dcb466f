/**
 * Units of a fixed capacity that clients' work takes one at a time, each
 * waiting client in a line of its own: a unit given back goes to the
 * waiting client whose turn comes first (HeldShares.first: the fewest held
 * per unit of its weight), never to whoever asked first. So a client with a
 * hundred statements queued stands before another client's one by at most
 * one unit's work, where a single first-come line (a connection pool's)
 * makes the other wait for all hundred. Work-conserving: while nobody
 * waits, a free unit is taken at once by any client, whatever it holds.
 *
 * A wait may be bounded: past it, the work is not run, and the wait fails
 * with the caller's error; the unit it would have had goes to the next turn.
 */
import { HeldShares } from './held-shares.js';

/** One waiter: resumed with its unit, or told its wait is over. */
interface Waiter {
  readonly resume: () => void;
}

/** How long one wait may last at most, and what it fails with then. */
export interface WaitBound {
  readonly ms: number;
  readonly error: () => unknown;
}

export class TurnLine {
  private readonly shares: HeldShares;
  /** Each waiting client's line, in the order its work asked; a client is here only while its line is not empty. */
  private readonly waiting = new Map<string, Waiter[]>();

  constructor(
    /** Units taken at once, at most, by all clients. */
    readonly capacity: number,
    weights: ReadonlyMap<string, number>,
    now?: () => number,
  ) {
    this.shares = new HeldShares(capacity, weights, now);
  }

  /** Units taken now, all clients'. */
  get busy(): number {
    return this.shares.busy;
  }

  /** Clients whose work waits for a unit now. */
  get waitingClients(): number {
    return this.waiting.size;
  }

  /**
   * `work`, once `client` has a unit, which it holds until `work` settles. With `bound`, a wait longer than its `ms`
   * fails with its error, `work` never run.
   */
  async run<T>(client: string, work: () => Promise<T>, bound?: WaitBound): Promise<T> {
    // Nobody passes a client already waiting: a unit free while some wait is about to be handed to one of them.
    if (this.shares.busy < this.capacity && this.waiting.size === 0) this.shares.hold(client);
    else await this.waitFor(client, bound);
    try {
      return await work();
    } finally {
      this.shares.give(client);
      this.handOver();
    }
  }

  private waitFor(client: string, bound: WaitBound | undefined): Promise<void> {
    return new Promise<void>((taken, late) => {
      const line = this.lineOf(client);
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        resume: () => {
          clearTimeout(timer);
          taken();
        },
      };
      line.push(waiter);
      if (!bound) return;
      timer = setTimeout(() => {
        // Still in its client's line (a waiter handed a unit has left it): it leaves, unrun.
        const at = line.indexOf(waiter);
        if (at < 0) return;
        line.splice(at, 1);
        if (line.length === 0 && this.waiting.get(client) === line) this.waiting.delete(client);
        late(bound.error());
      }, bound.ms);
      timer.unref();
    });
  }

  private lineOf(client: string): Waiter[] {
    let line = this.waiting.get(client);
    if (!line) this.waiting.set(client, (line = []));
    return line;
  }

  /** Free units to the waiting clients, one at a time, each to the client whose turn comes first. */
  private handOver(): void {
    while (this.shares.busy < this.capacity && this.waiting.size > 0) {
      const client = this.shares.first(this.waiting.keys())!;
      const line = this.waiting.get(client)!;
      const waiter = line.shift()!;
      if (line.length === 0) this.waiting.delete(client);
      // Held for it here, before its work resumes: a unit handed over is never seen free in between.
      this.shares.hold(client);
      waiter.resume();
    }
  }
}
