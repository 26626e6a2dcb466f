/**
 * Who is active, for the floors of ./fair-share.ts: a client that asked for a unit in the last `activeMs`, or holds
 * one. Each keeper of a scarce thing keeps one (its own window: a client that asked for an order keeps its floor of
 * the orders in flight for 10 s, of the webhook sends for 2 s) and tells it every ask.
 */
import { type Sharers } from './fair-share.js';

/** What the keeper knows of its clients, for `sharers`. */
export interface ClientWeights {
  /** What the client holds now: a client holding anything is active however long ago it asked. */
  heldOf(client: string): number;
  weightOf(client: string): number;
  /** The weight kept for a newcomer, `active` clients being active (NEWCOMER_WEIGHT, or 0 when nobody else exists). */
  newcomer(active: number): number;
}

export class ActiveClients {
  /** When each client last asked, on `now`'s clock. */
  private readonly lastAsked = new Map<string, number>();

  constructor(
    private readonly activeMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `client` asks for a unit, whether or not it gets one: it is active, and its floor is kept. */
  asked(client: string): void {
    this.lastAsked.set(client, this.now());
  }

  /** Who shares now; a client idle for longer than the window is forgotten. */
  sharers(clients: ClientWeights): Sharers {
    const since = this.now() - this.activeMs;
    const active = new Map<string, number>();
    let weights = 0;
    for (const [client, at] of this.lastAsked) {
      if (at < since && clients.heldOf(client) === 0) {
        this.lastAsked.delete(client);
        continue;
      }
      const weight = clients.weightOf(client);
      weights += weight;
      active.set(client, weight);
    }
    const newcomer = clients.newcomer(active.size);
    return { active, newcomer, totalWeight: weights + newcomer };
  }
}
